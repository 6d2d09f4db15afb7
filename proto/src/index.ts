export * as approuter from "./gen/hermes/approuter/v1/approuter.js";
export * as nodemesh from "./gen/hermes/nodemesh/v1/nodemesh.js";
