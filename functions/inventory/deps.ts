/** What the inventory core needs: the stores, a way to run scripts on hosts, and SSM's view of the fleet. */

import type { HostExecutor } from "#shared/hosts/executor.js";
import type { HostDirectory } from "#shared/hosts/host-directory.js";
import type { Stores } from "#shared/store/index.js";

export interface InventoryDeps {
  stores: Stores;
  executor: HostExecutor;
  directory: HostDirectory;
  now: () => Date;
}
