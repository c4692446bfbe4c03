/** Every route of the API, in match order (a literal segment before a `{param}` at the same place). */
import type { Route } from "../router.js";
import { executionRoutes } from "./executions.js";
import { hostPowerRoutes } from "./host-power.js";
import { hostRoutes } from "./hosts.js";
import { maintenanceRoutes } from "./maintenance.js";
import { migrationRoutes } from "./migrations.js";
import { serverActionRoutes } from "./server-actions.js";
import { serverRoutes } from "./servers.js";

export const ROUTES: readonly Route[] = [
  ...serverRoutes,
  ...serverActionRoutes,
  ...migrationRoutes,
  ...hostRoutes,
  ...maintenanceRoutes,
  ...hostPowerRoutes,
  ...executionRoutes,
];
