export type { Chat, Direction } from "./chat.js";
export { ChatStore } from "./chat-store.js";
export { type Clock, systemClock } from "./clock.js";
export { type AppLocation, type AppLocator, localOnly, type MeshLink } from "./locator.js";
export { type InboundFrame, PROTOCOL_VERSION, Router, type RouterOptions } from "./router.js";
export type { Session, SessionSink } from "./session.js";
