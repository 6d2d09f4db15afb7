export { approuter } from "@hermes/proto";
export { Identity } from "../identity/index.js";
export { Chat, endReasonName, type ReceivedMessage } from "./chat.js";
export { type ClientOptions, HermesClient, type IncomingOffer } from "./client.js";
export { deriveChatKeys, type E2eVersion, open, seal, type Transcript } from "./e2e.js";
export {
  ChatEndedError,
  ChatRejectedError,
  E2eVersionError,
  NodeError,
  NodeUnreachableError,
  PeerVerificationError,
  RatchetError,
  type RatchetErrorCode,
} from "./errors.js";
export { DEFAULT_E2E, type E2eConfig, type RatchetMode } from "./ratchet/config.js";
export { ChatStore } from "./store/chat-store.js";
