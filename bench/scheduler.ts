/**
 * The scheduler under contention: `concurrent` evacuations of one dead host placed at once by the real
 * Schedule step (filters, weigher, claim conditional on the usage weighed) against `hosts` targets on
 * dynalite. Placements per second, and the overcommits after it: hosts whose usage exceeds their limit
 * or differs from the sum of their claims, and instances claimed on more than one host (must be 0).
 */
import { randomUUID } from "node:crypto";
import { schedule } from "#functions/conductor/steps/schedule.js";
import { RESOURCE_KINDS, usageLimit } from "#shared/domain/claim-policy.js";
import type { Host } from "#shared/domain/schemas.js";
import { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { startTestDynamo } from "#test/support/dynamo.js";
import { makeHost, makeInstance, makeMigration } from "#test/support/fixtures.js";

export interface SchedulerRunResult {
  placements: number;
  failures: number;
  seconds: number;
  placementsPerSecond: number;
  overcommits: number;
  /** Placements per target host, max and min. */
  spread: { max: number; min: number };
}

const FLAVOR = { vcpus: 1, memoryMiB: 64, diskGiB: 1 };

/** Hosts whose usage is over their limit or is not the sum of their claims; instances claimed twice. */
export function overcommits(hosts: readonly Host[]): number {
  let bad = 0;
  const seen = new Map<string, number>();
  for (const h of hosts) {
    const limit = usageLimit(h);
    const sum = { vcpus: 0, memoryMiB: 0, diskGiB: 0 };
    for (const [uuid, c] of Object.entries(h.claims)) {
      seen.set(uuid, (seen.get(uuid) ?? 0) + 1);
      for (const k of RESOURCE_KINDS) sum[k] += c.resources[k];
    }
    if (RESOURCE_KINDS.some((k) => h.usage[k] > limit[k] || h.usage[k] !== sum[k])) bad++;
  }
  return bad + [...seen.values()].filter((n) => n > 1).length;
}

export async function runScheduler(opts: {
  hosts: number;
  concurrent: number;
  slotsPerHost: number;
}): Promise<SchedulerRunResult> {
  const db = await startTestDynamo();
  try {
    const { stores } = db;
    const storage = {
      instancesPath: "/var/lib/lazarus/instances",
      sharedPoolId: "p1",
      imageCachePath: "/var/lib/lazarus/images",
      volumesPath: "/var/lib/lazarus/volumes",
    };
    const now = new Date().toISOString();
    await stores.hosts.put(
      makeHost({ name: "dead", storage, forcedDown: true, status: "down", lastHeartbeatAt: now }),
    );
    const targets = Array.from({ length: opts.hosts }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);
    for (const name of targets)
      await stores.hosts.put(
        makeHost({
          name,
          storage,
          lastHeartbeatAt: now,
          capacity: { vcpus: opts.slotsPerHost, memoryMiB: 16384, diskGiB: 200 },
          allocationRatios: { cpu: 1, ram: 1, disk: 1 },
        }),
      );
    const flows: FlowState[] = [];
    for (let i = 0; i < opts.concurrent; i++) {
      const inst = await stores.instances.create(
        makeInstance({ host: "dead", node: "dead", flavor: FLAVOR, taskState: "rebuilding" }),
      );
      const requestId = randomUUID();
      await stores.migrations.create(
        makeMigration({ id: requestId, instanceUuid: inst.uuid, sourceHost: "dead", sourceNode: "dead" }),
      );
      flows.push(
        FlowState.parse({
          requestId,
          instanceUuid: inst.uuid,
          recreate: true,
          executionArn: `arn:aws:states:us-east-1:000000000000:execution:lazarus-rebuild:${requestId}`,
          migrationId: requestId,
          sourceHost: "dead",
          originalImageRef: inst.imageRef,
          originalVmState: "active",
          originalPowerState: "running",
        }),
      );
    }
    const deps = {
      stores,
      executor: {
        run: () => Promise.reject(new Error("no host commands in the scheduler bench")),
        probe: () => Promise.reject(new Error("no host commands in the scheduler bench")),
      },
      notifier: { publish: () => Promise.resolve() },
      executions: { status: () => Promise.reject(new Error("unused")) },
      now: () => new Date(),
      sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)),
      serviceDownSeconds: 60,
      shutdownTimeoutSeconds: 3,
    } as unknown as StepDeps;
    const started = performance.now();
    const outcomes = await Promise.allSettled(flows.map((f) => schedule(deps, f)));
    const seconds = (performance.now() - started) / 1000;
    const placements = outcomes.filter((o) => o.status === "fulfilled").length;
    const hosts = await stores.hosts.list();
    const perTarget = hosts.filter((h) => h.name !== "dead").map((h) => Object.keys(h.claims).length);
    return {
      placements,
      failures: outcomes.length - placements,
      seconds,
      placementsPerSecond: placements / seconds,
      overcommits: overcommits(hosts),
      spread: { max: Math.max(...perTarget), min: Math.min(...perTarget) },
    };
  } finally {
    await db.close();
  }
}
