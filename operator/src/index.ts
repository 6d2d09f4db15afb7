export { type OperatorSettings, type ResolvedSpec, resolveSpec } from "./api/defaults.js";
export * from "./api/types.js";
export { Controller } from "./controller/controller.js";
export { validate } from "./validation.js";
