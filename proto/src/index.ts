export * as approuter from "./gen/hermes/approuter/v1/approuter.js";
