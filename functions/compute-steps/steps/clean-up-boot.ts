/**
 * Before a failed boot is ended, its host is made to hold nothing of the instance (shared/flow/end-boot.ts
 * `cleanBootHost`). A boot that never claimed a host has nothing there. A clean-up that fails after the
 * machine's retries is recorded: the failure handler then keeps everything the instance holds (it may still
 * be defined there) and says so, instead of releasing it.
 */
import type { BootState } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { cleanBootHost } from "#shared/flow/end-boot.js";

export async function cleanUpBoot(deps: StepDeps, state: BootState): Promise<BootState> {
  if (!state.host) return state;
  // FinishBoot committed before a later part of it failed: the server is built, its host is not touched.
  const instance = await deps.stores.instances.get(state.build.instanceUuid);
  if (instance?.lastRequestId === state.requestId) return state;
  await cleanBootHost(deps, state.requestId, state.build, state.host);
  return state;
}
