/**
 * nova's `live_migration` on the source (libvirt driver `_live_migration`): the migration `running`, then
 * `virsh migrate --live --p2p` of the running guest to the target's libvirtd (shared/hosts/migration.ts),
 * aborted after the completion timeout; the guest keeps running, on the source until the switch-over and
 * on the target after it. Then the target is asked: the guest must run there. A command that failed is
 * LiveMigrationFailed; one that timed out may have moved the guest: either way the failure handler asks
 * both hosts where it runs and ends the flow there (shared/flow/migration-ending.ts). A retried step whose
 * earlier command moved the guest finds it gone from the source and running on the target.
 */
import { HostCommandFailed, LiveMigrationFailed, MigrationPreCheckFailed } from "#shared/domain/errors.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { liveMigrateScript } from "#shared/hosts/migration.js";
import { probeDomainState } from "#shared/hosts/probes.js";
import type { MaintenanceDeps } from "#shared/lambda/maintenance-runtime.js";
import { requireTarget } from "./target.js";

export async function liveMigrate(deps: MaintenanceDeps, flow: MigrationFlow): Promise<MigrationFlow> {
  const { instance, source, target } = await requireTarget(deps, flow);
  if (!target.liveMigration) {
    throw new MigrationPreCheckFailed(
      `Migration pre-check error: host ${target.name} takes no live migration.`,
      {
        host: target.name,
      },
    );
  }
  await deps.stores.migrations.transition(flow.migrationId, "running");
  const timeout = deps.maintenance.liveMigrationTimeoutSeconds;
  try {
    await deps.executor.run(
      hostTarget(source),
      liveMigrateScript(instance.uuid, target.liveMigration, { completionTimeoutSeconds: timeout }),
      {
        comment: `live-migrate ${instance.uuid} to ${target.name}`,
        // The script aborts the copy at `timeout`; these bound the abort itself and the command's delivery.
        executionTimeoutSeconds: timeout + 30,
        deadlineMs: (timeout + 60) * 1000,
      },
    );
  } catch (e) {
    if (!(e instanceof HostCommandFailed)) throw e;
    const stderr = String(e.details.stderr ?? e.message).trim();
    throw new LiveMigrationFailed(
      `Live migration of ${instance.uuid} from ${source.name} to ${target.name} failed: ${stderr}`,
      { host: source.name, target: target.name, ...e.details },
      { cause: e },
    );
  }
  const there = await probeDomainState(deps.executor, hostTarget(target), instance.uuid, {
    comment: `live migration arrived ${instance.uuid}`,
  });
  if (there !== "running") {
    throw new LiveMigrationFailed(
      `Live migration of ${instance.uuid} to ${target.name} ended without the guest running there (${there}).`,
      { host: source.name, target: target.name, domain: there },
    );
  }
  return flow;
}
