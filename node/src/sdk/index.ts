export { approuter } from "@hermes/proto";
export { Identity } from "../identity/index.js";
export { Chat, endReasonName, type ReceivedMessage } from "./chat.js";
export { type ClientOptions, HermesClient, type IncomingOffer } from "./client.js";
export { deriveChatKeys, open, seal, type Transcript } from "./e2e.js";
export {
  ChatEndedError,
  ChatRejectedError,
  NodeError,
  NodeUnreachableError,
  PeerVerificationError,
} from "./errors.js";
