export { type AdminServer, type AdminServerOptions, type HealthReport, startAdminServer } from "./server.js";
