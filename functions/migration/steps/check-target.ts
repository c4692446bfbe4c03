/**
 * nova's `check_can_live_migrate_destination` / `prep_resize` checks, before anything is done on a host:
 * on the target, one probe (the rebuild flow's target probe) proves the domain not defined there
 * (InstanceExists) and the instance's disk visible there (the shared pool: otherwise the migration is
 * refused, MigrationPreCheckFailed: block migration is not supported); on the source, a live migration
 * needs the guest running (one domain-state probe). A probe that cannot answer is ProbeFailed, never
 * "absent". A revert checks nothing here: its own step looks at both hosts as it goes.
 */
import { InstanceExists, MigrationPreCheckFailed } from "#shared/domain/errors.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import { hostTarget, rootDiskPath } from "#shared/hosts/layout.js";
import { parseTargetProbe, probeDomainState, targetProbeScript } from "#shared/hosts/probes.js";
import { requireTarget } from "./target.js";

export async function checkMigrationTarget(deps: StepDeps, state: MigrationFlow): Promise<MigrationFlow> {
  if (state.operation === "revert") return state;
  const { instance, source, target } = await requireTarget(deps, state);
  const result = await deps.executor.probe(
    hostTarget(target),
    targetProbeScript({ domain: instance.uuid, disk: rootDiskPath(target, instance.uuid) }),
    { comment: `migration target check ${instance.uuid}` },
  );
  const { domain, disk } = parseTargetProbe(target.name, ["domain", "disk"], result);
  if (domain === "present") {
    throw new InstanceExists(`Instance ${instance.uuid} already exists on host ${target.name}.`, {
      host: target.name,
    });
  }
  if (disk === "absent") {
    throw new MigrationPreCheckFailed(
      `Migration pre-check error: the disk of instance ${instance.uuid} is not visible on ${target.name} (${rootDiskPath(target, instance.uuid)}): a migration moves only disks on a shared pool (block migration is not supported).`,
      { host: target.name },
    );
  }
  if (state.live) {
    const there = await probeDomainState(deps.executor, hostTarget(source), instance.uuid, {
      comment: `live migration source check ${instance.uuid}`,
    });
    if (there !== "running" && there !== "paused") {
      throw new MigrationPreCheckFailed(
        `Migration pre-check error: instance ${instance.uuid} is ${there} on ${source.name}: only a running guest migrates live (migrate it cold).`,
        { host: source.name, domain: there },
      );
    }
  }
  return state;
}
