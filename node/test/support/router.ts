import { approuter } from "@hermes/proto";
import type { Logger } from "pino";
import type { Counter, Gauge } from "prom-client";
import { Identity } from "../../src/identity/index.js";
import { signResume } from "../../src/protocol/index.js";
import { ChatStore } from "../../src/router/chat-store.js";
import {
  defaultRouterLimits,
  defaultRouterTimeouts,
  type RouterLimits,
  type RouterTimeouts,
} from "../../src/router/config.js";
import type { AppLocator, MeshLink } from "../../src/router/locator.js";
import { Router } from "../../src/router/router.js";
import type { Session } from "../../src/router/session.js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { newChatId, newEphemeralKey, signedAcceptChat, signedConnect, signedStartChat } from "./frames.js";
import { MemoryKeyBackend } from "./key-backend.js";
import { RecordingSink } from "./sink.js";

export type AppBody = NonNullable<approuter.AppFrame["body"]>;

/** A chat an app states when it connects: its transcript and its own marks. */
export interface Resumed {
  ready: approuter.ChatReady;
  delivered: number;
  ackedByPeer: number;
}

export interface RouterOverrides {
  limits?: Partial<RouterLimits>;
  timeouts?: Partial<RouterTimeouts>;
  clock?: FakeClock;
  backend?: MemoryKeyBackend;
  logger?: Logger;
  identity?: Identity;
  locator?: AppLocator;
  /** A full mesh link (e.g. a FakeMeshLink from ./mesh-link.js); wins over `locator`. */
  mesh?: MeshLink;
}

export interface Harness {
  router: Router;
  clock: FakeClock;
  metrics: Metrics;
  backend: MemoryKeyBackend;
  store: ChatStore;
  identity: Identity;
  limits: RouterLimits;
  timeouts: RouterTimeouts;
  /** A new app (not yet connected) on this router, its streams coming from `remoteAddress`. */
  app(identity?: Identity, remoteAddress?: string): TestApp;
}

/** A Router over a fake clock, fresh metrics, a silent logger and an in-memory keystore. */
export function newRouter(o: RouterOverrides = {}): Harness {
  const limits = { ...defaultRouterLimits, ...o.limits };
  const timeouts = { ...defaultRouterTimeouts, ...o.timeouts };
  const clock = o.clock ?? new FakeClock();
  const metrics = new Metrics();
  const backend = o.backend ?? new MemoryKeyBackend();
  const store = new ChatStore(backend);
  const identity = o.identity ?? Identity.generate();
  const router = new Router(
    {
      identity,
      clock,
      metrics,
      logger: o.logger ?? createLogger({ level: "silent" }),
      store,
      ...(o.mesh ? { mesh: o.mesh } : o.locator ? { mesh: meshOf(o.locator) } : {}),
    },
    { limits, timeouts },
  );
  const h: Harness = {
    router,
    clock,
    metrics,
    backend,
    store,
    identity,
    limits,
    timeouts,
    app: (id, remoteAddress) => new TestApp(h, id, remoteAddress),
  };
  return h;
}

/** One app's stream to the router under test. */
export class TestApp {
  sink = new RecordingSink();
  session: Session | undefined;
  challenge: approuter.Challenge | undefined;

  constructor(
    readonly h: Harness,
    readonly identity: Identity = Identity.generate(),
    /** The host its streams come from. */
    readonly remoteAddress = "192.0.2.1",
  ) {}

  get id(): string {
    return this.identity.id;
  }

  /** Opens a new stream (a fresh sink) and returns the node's challenge. */
  open(): approuter.Challenge {
    this.sink = new RecordingSink();
    this.session = this.h.router.open(this.sink, this.remoteAddress);
    this.challenge = this.sink.one("challenge");
    return this.challenge;
  }

  /** A Connect correctly signed for the current challenge, with fields overridden as given. */
  connectBody(over: Partial<approuter.Connect> = {}): approuter.Connect {
    const challenge = this.challenge ?? this.open();
    const good = signedConnect(this.identity, {
      nodeId: challenge.nodeId,
      nonce: challenge.nonce,
      timestampMs: this.h.clock.now(),
    });
    return { ...good, ...over };
  }

  /**
   * Opens a stream, connects (stating `resume`, each signed for this node, as an SDK does) and
   * returns the ConnectAck (with its correlation id). Frames the node sends before the ack (the
   * ChatDeleted of chats it cannot resume) stay in the sink.
   */
  connect(resume: Resumed[] = []): approuter.ConnectAck & { correlationId: string } {
    const challenge = this.open();
    const now = this.h.clock.now();
    const resumes = resume.map((r) => signResume(this.identity, challenge.nodeId, r, now));
    this.send({ $case: "connect", value: { ...this.connectBody(), resume: resumes } }, "c-connect");
    return this.sink.pick("connectAck");
  }

  send(body: AppBody | undefined, correlationId = ""): void {
    if (!this.session) throw new Error("open() first");
    this.h.router.receive(this.session, { correlationId, body });
  }

  /** The stream broke (as the gRPC shell reports it). */
  disconnect(): void {
    if (this.session) this.h.router.disconnected(this.session);
  }

  /**
   * Sends a StartChat to `target`, signed over its chat id and ephemeral key (given or random);
   * other overrides replace fields after signing. Returns what was sent.
   */
  startChat(
    target: TestApp | string,
    over: Partial<approuter.StartChat> = {},
    correlationId = "c-start",
  ): approuter.StartChat {
    const value = {
      ...signedStartChat(this.identity, {
        chatId: over.chatId ?? newChatId(),
        targetAppId: typeof target === "string" ? target : target.id,
        ephemeralKey: over.ephemeralKey ?? newEphemeralKey(),
        timestampMs: this.h.clock.now(),
      }),
      ...over,
    };
    this.send({ $case: "startChat", value }, correlationId);
    return value;
  }

  /** Sends an AcceptChat for an offer, signed over its ephemeral key (given or random); other overrides replace fields after signing. */
  accept(offer: approuter.ChatOffer, over: Partial<approuter.AcceptChat> = {}, correlationId = "c-accept") {
    const value = {
      ...signedAcceptChat(this.identity, {
        chatId: offer.chatId,
        initiatorAppId: offer.initiatorAppId,
        initiatorEphemeralKey: offer.ephemeralKey,
        ephemeralKey: over.ephemeralKey ?? newEphemeralKey(),
        timestampMs: this.h.clock.now(),
      }),
      ...over,
    };
    this.send({ $case: "acceptChat", value }, correlationId);
    return value;
  }

  message(
    chatId: string,
    seq: number,
    ciphertext: Uint8Array = new Uint8Array([seq & 0xff]),
    cid = "",
  ): void {
    this.send({ $case: "message", value: { chatId, seq, ciphertext } }, cid);
  }

  ack(chatId: string, seq: number, cid = ""): void {
    this.send({ $case: "ack", value: { chatId, seq } }, cid);
  }

  /** The only frame since the last read must be an Error; returns it. */
  error(): approuter.Error & { correlationId: string } {
    return this.sink.one("error");
  }
}

/** Connects two apps and makes a ready chat between them; every sink is drained afterwards. */
export function readyChat(a: TestApp, b: TestApp): { chatId: string; ready: approuter.ChatReady } {
  const start = a.startChat(b);
  a.sink.one("chatPending");
  const offer = b.sink.one("chatOffer");
  b.accept(offer);
  const { correlationId: _, ...ready } = a.sink.one("chatReady");
  b.sink.one("chatReady");
  return { chatId: start.chatId, ready };
}

/** A counter or gauge value for the given labels (0 when never set). */
export async function metricValue(
  metric: Counter<string> | Gauge<string>,
  labels: Record<string, string> = {},
): Promise<number> {
  const data = await metric.get();
  const match = data.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match?.value ?? 0;
}

export const { ErrorCode, ChatEndReason, SessionCloseReason } = approuter;

/** A mesh that only locates apps: tieline frames go nowhere. */
function meshOf(locator: AppLocator): MeshLink {
  return {
    ...locator,
    sendRoute: () => false,
    observeRelayLatency: () => undefined,
    appConnected: () => undefined,
    appDisconnected: () => undefined,
    followApps: () => undefined,
  };
}
