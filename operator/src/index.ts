export { type OperatorSettings, type ResolvedSpec, resolveSpec } from "./api/defaults.js";
export * from "./api/types.js";
export { validate } from "./api/validation.js";
export { Controller } from "./controller/controller.js";
