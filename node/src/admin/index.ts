export { type MemberView, meshRoutes, type RoutesView } from "./mesh-views.js";
export { type AdminServer, type AdminServerOptions, type HealthReport, startAdminServer } from "./server.js";
