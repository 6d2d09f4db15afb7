export { addAppRouter, appServerOptions } from "./app-service.js";
export type { Chat, Direction } from "./chat.js";
export { ChatStore } from "./chat-store.js";
export {
  defaultRouterLimits,
  defaultRouterTimeouts,
  type RouterLimits,
  type RouterTimeouts,
} from "./config.js";
export { type AppLocation, type AppLocator, localOnly, type MeshLink } from "./locator.js";
export {
  type InboundFrame,
  PROTOCOL_VERSION,
  Router,
  type RouterComponents,
  type RouterInit,
} from "./router.js";
export type { Session, SessionSink } from "./session.js";
