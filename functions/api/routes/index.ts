/** Every route of the API, in match order (a literal segment before a `{param}` at the same place). */
import type { Route } from "../router.js";
import { catalogRoutes } from "./catalog.js";
import { executionRoutes } from "./executions.js";
import { fleetRoutes } from "./fleet.js";
import { hostPowerRoutes } from "./host-power.js";
import { hostRoutes } from "./hosts.js";
import { incidentRoutes } from "./incidents.js";
import { maintenanceRoutes } from "./maintenance.js";
import { migrationRoutes } from "./migrations.js";
import { serverActionRoutes } from "./server-actions.js";
import { serverLifecycleRoutes } from "./server-lifecycle.js";
import { serverRoutes } from "./servers.js";

export const ROUTES: readonly Route[] = [
  ...serverRoutes,
  ...serverLifecycleRoutes,
  ...serverActionRoutes,
  ...migrationRoutes,
  ...hostRoutes,
  ...maintenanceRoutes,
  ...hostPowerRoutes,
  ...executionRoutes,
  ...incidentRoutes,
  ...catalogRoutes,
  ...fleetRoutes,
];
