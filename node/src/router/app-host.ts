import type { approuter } from "@hermes/proto";
import type { Metrics } from "../telemetry/metrics.js";
import type { Clock } from "../utils/clock.js";
import type { Chats, NodeBody } from "./chats.js";
import type { Refusal, TimeContext } from "./checks.js";
import type { RouterLimits } from "./config.js";
import type { MeshLink } from "./locator.js";
import type { Session } from "./session.js";

/** What an Error frame to an app says besides its code and message. */
export interface ErrorDetail {
  correlationId?: string;
  chatId?: string;
  expectedSeq?: number;
  retryAfterMs?: number;
  seq?: number;
}

/**
 * What the handlers of app frames (chat-requests.ts, messages.ts) need from the router: the
 * chats, the sessions, and the one way to answer or refuse an app.
 */
export interface AppFrameHost {
  readonly nodeId: string;
  readonly chats: Chats;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly limits: RouterLimits;
  /** The mesh, for chats with apps on other nodes; undefined when the node is alone. */
  readonly mesh: MeshLink | undefined;
  timeContext(): TimeContext;
  /** The session of an app connected here. */
  session(appId: string): Session | undefined;
  send(session: Session, body: NodeBody, correlationId?: string): void;
  /** Answers with an Error frame; abusive codes spend the session's bad-frame budget. */
  fail(session: Session, code: approuter.ErrorCode, message: string, detail?: ErrorDetail): void;
  /** fail(), counting the refusal's limit when it names one. */
  refuse(session: Session, refusal: Refusal, detail: ErrorDetail): void;
  /** Counts and logs a refusal that is answered otherwise (e.g. by ending the chat). */
  note(session: Session, code: approuter.ErrorCode, message: string): void;
}
