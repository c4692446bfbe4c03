/**
 * Prove a target clean before it is given up on (before a reschedule, or before the flow ends in error):
 * if this flow reached a step that may have left something there (a failed or timed-out root-disk or
 * spawn command counts), destroy and undefine the instance's domain, and remove the instance folder when
 * this flow proved the disk absent there before creating it. A clean-up that fails (after the state
 * machine's retries) means the target is *not* proven clean: the machine then tries no other host and
 * HandleFailure keeps the claim there and names the host in the fault.
 *
 * Never on a rebuild (the target is the instance's own host) and never on the host the instance record
 * names (a Finish that committed before failing moved the instance there).
 */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled, touchedTarget } from "#shared/flow/flow-state.js";
import { cleanTarget } from "#shared/flow/target-cleanup.js";
import { loadTarget } from "./load-target.js";

export async function cleanUpTarget(deps: StepDeps, state: FlowState): Promise<FlowState> {
  if (!state.recreate || !state.destHost) return state;
  const flow = requireScheduled(state);
  if (!touchedTarget(flow)) return state;
  const { instance, host } = await loadTarget(deps, flow);
  if (instance.host === host.name) return state;
  await cleanTarget(deps, host, instance, { removeInstanceDir: flow.sharedStorage === false });
  return state;
}
