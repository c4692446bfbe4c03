/** What the inventory core needs: the stores, a way to run scripts on hosts, and SSM's view of the fleet. */

import type { HostExecutor } from "#shared/hosts/executor.js";
import type { HostDirectory } from "#shared/hosts/host-directory.js";
import type { HostAlarms } from "#shared/metrics/host-alarms.js";
import type { Stores } from "#shared/store/index.js";
import type { DeploymentSettings } from "./host-setup.js";

export interface InventoryDeps {
  stores: Stores;
  executor: HostExecutor;
  directory: HostDirectory;
  /** The hosts' CloudWatch alarms (heartbeat, instance monitor): registration creates them, deregistration deletes them. */
  alarms: HostAlarms;
  /** The deployment the set-up commands point a host at. */
  deployment: DeploymentSettings;
  now: () => Date;
}
