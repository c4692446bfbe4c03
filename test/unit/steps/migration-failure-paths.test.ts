/**
 * The migrate machine's failure paths, step by step against dynalite (issue 32), with the hosts played by
 * a small model of two hypervisors (where the guest's domain is, and in which state) behind the scripted
 * executor: every host command the steps send changes the model as the real script would, and a failure
 * can be made to happen at any command, before or after its work. After any step fails at any point, the
 * failure handler must leave the guest on exactly one host, running (or stopped) as it was, with no task
 * held, no leaked claim, and ports and volumes on the host the record names (the rebuild flow's
 * invariants); a guest found running on the target means the move happened, and it stands.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { HostEvacuationState } from "#functions/host-failure/contract.js";
import { endMigrationsFromHost } from "#functions/host-failure/steps/migrations.js";
import { acceptMigration } from "#functions/migration/steps/accept.js";
import { checkMigrationTarget } from "#functions/migration/steps/check-target.js";
import { commitMigration } from "#functions/migration/steps/commit.js";
import { confirmMigration } from "#functions/migration/steps/confirm.js";
import { handleMigrationFailure } from "#functions/migration/steps/handle-failure.js";
import { liveMigrate } from "#functions/migration/steps/live-migrate.js";
import { revertMigration } from "#functions/migration/steps/revert.js";
import { scheduleMigration } from "#functions/migration/steps/schedule.js";
import { startOnTarget } from "#functions/migration/steps/start-on-target.js";
import { stopSource } from "#functions/migration/steps/stop-source.js";
import { SWEEP_MIN_AGE_SECONDS, sweep } from "#functions/sweeper/sweep.js";
import type { Instance } from "#shared/domain/schemas.js";
import { STOPPED_EXECUTION_MAY_ACT_SECONDS } from "#shared/flow/executions.js";
import type { MigrateRequest, MigrationFlow } from "#shared/flow/migration-contract.js";
import { takeTaskEnding } from "#shared/flow/task-ending.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import type { HostExecutor } from "#shared/hosts/executor.js";
import type { MaintenanceDeps } from "#shared/lambda/maintenance-runtime.js";
import { makePort, makeVolume } from "../../support/fixtures.js";
import { hostFailureDeps } from "../../support/host-failure-deps.js";
import {
  caughtAs,
  type HostAnswer,
  type HostCall,
  probeFacts,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

type Domain = "absent" | "running" | "shut off" | "paused";

/** What a command is, read from its script (each builder's own words). */
/** The kind of host operation a command is: its document. */
const KIND_OF_DOCUMENT: Record<string, string> = {
  "live-migrate-domain": "live-migrate",
  "stop-undefine-domain": "stop-and-undefine",
  "define-domain": "define",
  "probe-target": "target-probe",
  "probe-domain-state": "domain-state",
  "remove-domain": "remove",
  "start-domain": "restart",
};
function kindOf(call: Pick<HostCall, "document">): string {
  return KIND_OF_DOCUMENT[call.document] ?? "other";
}

/**
 * Two (or three) hypervisors: the guest's domain state on each. A fault makes the next command of a kind
 * on a host fail: before its work (`unreachable`, `fail`) or after it (`timeout-after`: it ran, its answer
 * was lost).
 */
class Hypervisors {
  readonly domain = new Map<string, Domain>();
  private faults: {
    host: string;
    kind: string;
    how: "unreachable" | "fail" | "timeout-after" | "timeout";
    times: number;
  }[] = [];
  constructor(
    readonly w: StepWorld,
    hosts: Record<string, Domain>,
  ) {
    for (const [h, d] of Object.entries(hosts)) this.domain.set(h, d);
    w.executor.on((call) => this.answer(call));
  }

  fault(
    host: string,
    kind: string,
    how: "unreachable" | "fail" | "timeout-after" | "timeout",
    times = 1,
  ): void {
    this.faults.push({ host, kind, how, times });
  }

  /** Every host that has the domain defined, with its state. */
  where(): Record<string, Domain> {
    return Object.fromEntries([...this.domain].filter(([, d]) => d !== "absent"));
  }

  private answer(call: HostCall): HostAnswer {
    const kind = kindOf(call);
    const f = this.faults.find((x) => x.host === call.host && x.kind === kind && x.times > 0);
    if (f) f.times--;
    if (f?.how === "unreachable") return "unreachable";
    if (f?.how === "timeout") return "timeout";
    if (f?.how === "fail") return { fail: `injected: ${kind} failed on ${call.host}` };
    const here = this.domain.get(call.host) ?? "absent";
    let out = "";
    switch (kind) {
      case "domain-state":
        out = here;
        break;
      case "target-probe":
        return probeFacts(call.host, { domain: here === "absent" ? "absent" : "present", disk: "present" })(
          call,
        )!;
      case "live-migrate": {
        if (here !== "absent") {
          const target = [...this.domain.keys()].find(
            (h) => h !== call.host && String(call.parameters.uri).includes(`${h}.sock`),
          )!;
          this.domain.set(call.host, "absent");
          this.domain.set(target, "running");
        }
        break;
      }
      case "stop-and-undefine":
      case "remove":
        this.domain.set(call.host, "absent");
        break;
      case "define":
        this.domain.set(call.host, call.parameters.start === "true" ? "running" : "shut off");
        break;
      case "restart":
        if (here === "absent") return { fail: "domain is not defined" };
        this.domain.set(call.host, "running");
        break;
    }
    if (f?.how === "timeout-after") return "timeout";
    return { exitCode: 0, stdout: `${out}\n`, stderr: "" };
  }
}

const liveMigration = (host: string) => ({
  uri: `qemu+unix:///session?socket=/run/${host}.sock`,
  inboundAddress: "127.0.0.1",
  poolIsLocalFolder: true,
});

/** src, b and c on one pool, all taking live migrations; an instance (2 ports, a volume) on src. */
async function world(over: Partial<Instance> = {}) {
  const w = await newWorld();
  await seedHosts(
    w,
    ["src", "b", "c"].map((name) => ({ name, overrides: { liveMigration: liveMigration(name) } })),
  );
  const ports = [makePort({ bindingHost: "src" }), makePort({ bindingHost: "src" })];
  for (const p of ports) await w.db.stores.ports.put(p);
  const volume = makeVolume({ status: "in-use" });
  await w.db.stores.volumes.put(volume);
  const instance = await seedInstance(w, "src", {
    ports: ports.map((p) => p.id),
    volumes: [{ volumeId: volume.id, device: "vdb", deleteOnTermination: false }],
    ...over,
  });
  await w.db.stores.volumes.attach(volume.id, {
    attachmentId: randomUUID(),
    instanceUuid: instance.uuid,
    host: "src",
    device: "vdb",
  });
  const ran = instance.powerState === "running";
  const hv = new Hypervisors(w, { src: ran ? "running" : "shut off", b: "absent", c: "absent" });
  const deps: MaintenanceDeps = {
    ...w.deps,
    maintenance: { liveMigrationTimeoutSeconds: 60, drainMaxConcurrency: 2 },
  };
  return { w, deps, hv, instance };
}

async function accepted(deps: MaintenanceDeps, instance: Instance, req: Partial<MigrateRequest> = {}) {
  const requestId = req.requestId ?? randomUUID();
  return acceptMigration(deps, {
    request: { requestId, instanceUuid: instance.uuid, targetHost: "b", ...req },
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:lazarus-migrate:${requestId}`,
  });
}

type Step = (deps: MaintenanceDeps, s: MigrationFlow) => Promise<MigrationFlow>;
const LIVE: [string, Step][] = [
  ["schedule", scheduleMigration],
  ["checkTarget", checkMigrationTarget],
  ["liveMigrate", liveMigrate],
  ["commit", commitMigration],
];
const COLD: [string, Step][] = [
  ["schedule", scheduleMigration],
  ["checkTarget", checkMigrationTarget],
  ["stopSource", stopSource],
  ["startOnTarget", startOnTarget],
  ["commit", commitMigration],
];

/** Runs the steps in order; the first that throws is recorded as the machine's Catch records it, then handled. */
async function runAndHandle(deps: MaintenanceDeps, flow: MigrationFlow, steps: [string, Step][]) {
  let state = flow;
  for (const [key, step] of steps) {
    try {
      state = await step(deps, state);
    } catch (e) {
      const failed = { ...state, failure: { [key]: caughtAs(e) } };
      return { failedAt: key, error: (e as Error).name, handled: await handleMigrationFailure(deps, failed) };
    }
  }
  return { failedAt: null, error: null, handled: null };
}

/** The invariants after a migrate flow ended: see shared/flow/migration-ending.ts. */
async function expectSettled(
  w: StepWorld,
  hv: Hypervisors,
  uuid: string,
  opts: { keptClaimOn?: string } = {},
) {
  const after = await w.db.stores.instances.require(uuid);
  expect(after.taskState).toBeNull();
  expect(after.taskRequestId).toBeNull();
  // One copy: defined on the record's host only (an unclean host may still have one), as it ran before.
  const defined = Object.keys(hv.where()).filter((h) => h !== opts.keptClaimOn);
  expect(defined).toEqual([after.host]);
  for (const h of await w.db.stores.hosts.list()) {
    const claim = h.claims[uuid];
    if (h.name === after.host || h.name === opts.keptClaimOn) expect(claim, h.name).toBeDefined();
    else if (after.vmState !== "resized") expect(claim, `claim left on ${h.name}`).toBeUndefined();
    const sum = Object.values(h.claims).reduce((s, c) => s + c.resources.memoryMiB, 0);
    expect(h.usage.memoryMiB, `usage of ${h.name}`).toBe(sum);
  }
  for (const portId of after.ports)
    expect((await w.db.stores.ports.require(portId)).bindingHost).toBe(after.host);
  for (const bdm of after.volumes) {
    const live = (await w.db.stores.volumes.require(bdm.volumeId)).attachments.filter(
      (a) => a.status === "attached",
    );
    expect(live.map((a) => a.host)).toEqual([after.host]);
  }
  for (const m of await w.db.stores.migrations.listByInstance(uuid)) {
    expect(["completed", "failed", "error", "finished", "confirmed", "reverted"]).toContain(m.status);
  }
  return after;
}

describe("live migration: a failure at any point leaves the guest running on exactly one host", () => {
  it("no room anywhere (Schedule): nothing is asked of the hosts; ACTIVE on its source, migration error", async () => {
    const { w, deps, hv, instance } = await world();
    for (const h of ["b", "c"]) {
      await w.db.stores.hosts.claim(h, {
        instanceUuid: randomUUID(),
        resources: { vcpus: 1, memoryMiB: 16_000, diskGiB: 1 },
        owner: "someone-else",
        serverGroup: null,
      });
    }
    const flow = await accepted(deps, instance, { live: true, targetHost: null });
    const r = await runAndHandle(deps, flow, LIVE);
    expect(r).toMatchObject({ failedAt: "schedule", error: "NoValidHost", handled: { outcome: "failed" } });
    expect(w.executor.calls).toEqual([]);
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({
      host: "src",
      vmState: "active",
      fault: null,
    });
    expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe("error");
  });

  it("the target's probe fails (CheckTarget): the target's claim released, nothing else asked", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("b", "target-probe", "unreachable");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: true }), LIVE);
    expect(r).toMatchObject({ failedAt: "checkTarget", error: "HostUnreachable" });
    expect(w.executor.calls.filter((c) => c.host === "src")).toEqual([]);
    await expectSettled(w, hv, instance.uuid);
  });

  it("virsh migrate fails: the guest runs on at the source; the target untouched", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("src", "live-migrate", "fail");
    const flow = await accepted(deps, instance, { live: true });
    const r = await runAndHandle(deps, flow, LIVE);
    expect(r).toMatchObject({
      failedAt: "liveMigrate",
      error: "LiveMigrationFailed",
      handled: { outcome: "failed" },
    });
    expect(hv.where()).toEqual({ src: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "src", vmState: "active" });
    expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe("failed");
  });

  it("the migration's answer is lost after the guest moved: the move stands (committed, SUCCEEDED)", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("src", "live-migrate", "timeout-after");
    const flow = await accepted(deps, instance, { live: true });
    const r = await runAndHandle(deps, flow, LIVE);
    expect(r).toMatchObject({
      failedAt: "liveMigrate",
      error: "HostCommandTimedOut",
      handled: { outcome: "finished" },
    });
    expect(hv.where()).toEqual({ b: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "b", vmState: "active" });
    expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe("completed");
  });

  it("the target holds a paused incoming copy while the source runs: the copy goes, the source stays", async () => {
    const { w, deps, hv, instance } = await world();
    let flow = await accepted(deps, instance, { live: true });
    flow = await scheduleMigration(deps, flow);
    flow = await checkMigrationTarget(deps, flow);
    // The copy under way when the source stopped answering: paused on the target, running at the source.
    hv.domain.set("b", "paused");
    hv.fault("src", "live-migrate", "timeout");
    const r = await runAndHandle(deps, flow, [["liveMigrate", liveMigrate]]);
    expect(r.handled).toMatchObject({ outcome: "failed", error: "HostCommandTimedOut" });
    expect(hv.where()).toEqual({ src: "running" });
    await expectSettled(w, hv, instance.uuid);
  });

  it("the source stops answering (it failed): the record stays there in its vm_state for a host evacuation", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("src", "live-migrate", "timeout");
    hv.fault("src", "domain-state", "unreachable");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: true }), LIVE);
    expect(r.handled).toMatchObject({ outcome: "failed" });
    const after = await w.db.stores.instances.require(instance.uuid);
    expect(after).toMatchObject({ host: "src", vmState: "active", taskState: null });
    expect(Object.keys((await w.db.stores.hosts.require("b")).claims)).not.toContain(instance.uuid);
  });

  it("the target stops answering while the source runs: it keeps its claim (TargetNotClean), ACTIVE", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("src", "live-migrate", "fail");
    hv.fault("b", "domain-state", "unreachable");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: true }), LIVE);
    expect(r.handled).toMatchObject({ outcome: "failed", error: "TargetNotClean" });
    const after = await expectSettled(w, hv, instance.uuid, { keptClaimOn: "b" });
    expect(after).toMatchObject({
      host: "src",
      vmState: "active",
      fault: { error: "TargetNotClean", details: { uncleanHost: "b" } },
    });
  });

  it("a retried step after its work changes nothing: migrate again finds the guest gone, commit again is a no-op", async () => {
    const { w, deps, hv, instance } = await world();
    let flow = await accepted(deps, instance, { live: true });
    flow = await scheduleMigration(deps, flow);
    flow = await checkMigrationTarget(deps, flow);
    flow = await liveMigrate(deps, flow);
    flow = await liveMigrate(deps, flow);
    flow = await commitMigration(deps, flow);
    await commitMigration(deps, flow);
    expect(hv.where()).toEqual({ b: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({
      host: "b",
      vmState: "active",
      powerState: "running",
    });
    // A repeated notification carries the same id (consumers drop the second, as with every flow's).
    const ends = w.notifier.published.filter((n) => n.eventType === "instance.live_migration_post.end");
    expect(new Set(ends.map((n) => n.id)).size).toBe(1);
  });
});

describe("cold migration: a failure at any point leaves the guest on its source as it was, or the move stands", () => {
  it("the source's stop is never delivered: it runs on, untouched", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("src", "stop-and-undefine", "unreachable", 3);
    const flow = await accepted(deps, instance, { live: false });
    const r = await runAndHandle(deps, flow, COLD);
    expect(r).toMatchObject({ failedAt: "stopSource", handled: { outcome: "failed" } });
    expect(hv.where()).toEqual({ src: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "src", vmState: "active" });
    expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe("error");
  });

  it("the source stopped but its answer was lost: the guest is defined and started again on its source", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("src", "stop-and-undefine", "timeout-after");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: false }), COLD);
    expect(r).toMatchObject({ failedAt: "stopSource", error: "HostCommandTimedOut" });
    expect(hv.where()).toEqual({ src: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "src", vmState: "active" });
  });

  it("the target cannot start it: the target cleaned, the guest started again on its source", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("b", "define", "fail");
    hv.domain.set("b", "absent");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: false }), COLD);
    expect(r).toMatchObject({ failedAt: "startOnTarget", error: "SpawnFailed" });
    expect(hv.where()).toEqual({ src: "running" });
    expect(w.executor.calls.some((c) => c.host === "src" && kindOf(c) === "define")).toBe(true);
    await expectSettled(w, hv, instance.uuid);
  });

  it("the target started it and the answer was lost: the move stands, VERIFY_RESIZE, the source's claim kept", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("b", "define", "timeout-after");
    const flow = await accepted(deps, instance, { live: false });
    const r = await runAndHandle(deps, flow, COLD);
    expect(r).toMatchObject({ failedAt: "startOnTarget", handled: { outcome: "finished" } });
    expect(hv.where()).toEqual({ b: "running" });
    const after = await expectSettled(w, hv, instance.uuid);
    expect(after).toMatchObject({ host: "b", vmState: "resized", powerState: "running" });
    expect((await w.db.stores.hosts.require("src")).claims[instance.uuid]).toBeDefined();
    expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe("finished");
    await confirmMigration(deps, flow);
    expect(await w.db.stores.instances.require(instance.uuid)).toMatchObject({ vmState: "active" });
    expect((await w.db.stores.hosts.require("src")).claims[instance.uuid]).toBeUndefined();
    expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe("confirmed");
  });

  it("the target defined it, then stops answering: nothing is defined at home while it may hold a copy", async () => {
    const { w, deps, hv, instance } = await world({ vmState: "stopped", powerState: "shutdown" });
    const flow = await accepted(deps, instance, { live: false });
    hv.fault("b", "define", "timeout-after");
    hv.fault("b", "domain-state", "unreachable");
    const r = await runAndHandle(deps, flow, COLD);
    expect(r.handled).toMatchObject({ outcome: "failed", error: "TargetNotClean" });
    // Not proven clean: nothing is started or defined at home while the target may hold it.
    expect(await w.db.stores.instances.require(instance.uuid)).toMatchObject({
      host: "src",
      vmState: "error",
    });
  });

  it("a STOPPED instance stays stopped when its move is undone", async () => {
    const { w, deps, hv, instance } = await world({ vmState: "stopped", powerState: "shutdown" });
    hv.fault("b", "define", "fail");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: false }), COLD);
    expect(r.failedAt).toBe("startOnTarget");
    expect(hv.where()).toEqual({ src: "shut off" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "src", vmState: "stopped" });
  });

  it("the source cannot define it again either: ERROR with a fault, on its source, claims right", async () => {
    const { w, deps, hv, instance } = await world();
    hv.fault("b", "define", "fail");
    hv.fault("src", "define", "fail");
    const r = await runAndHandle(deps, await accepted(deps, instance, { live: false }), COLD);
    expect(r.handled).toMatchObject({ outcome: "failed" });
    const after = await w.db.stores.instances.require(instance.uuid);
    expect(after).toMatchObject({
      host: "src",
      vmState: "error",
      taskState: null,
      fault: { error: "SpawnFailed" },
    });
    expect(hv.where()).toEqual({});
    expect(Object.keys((await w.db.stores.hosts.require("b")).claims)).not.toContain(instance.uuid);
  });
});

describe("revert of a finished cold migration", () => {
  async function finished() {
    const x = await world();
    let flow = await accepted(x.deps, x.instance, { live: false });
    for (const [, step] of COLD) flow = await step(x.deps, flow);
    expect(x.hv.where()).toEqual({ b: "running" });
    const revert = await accepted(x.deps, x.instance, {
      action: "revert",
      migrationId: flow.migrationId,
      targetHost: null,
    });
    return { ...x, migrationId: flow.migrationId, revert };
  }

  it("brings it back to its source, running; the target's claim released; migration reverted", async () => {
    const { w, deps, hv, instance, migrationId, revert } = await finished();
    expect(revert).toMatchObject({ operation: "revert", sourceHost: "b", destHost: "src" });
    await revertMigration(deps, revert);
    expect(hv.where()).toEqual({ src: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "src", vmState: "active" });
    const m = await w.db.stores.migrations.require(migrationId);
    expect(m.status).toBe("reverted");
    expect(m.followUps.map((u) => u.action)).toEqual(["revertResize"]);
  });

  it("the source refuses to start it: it stays on the target, started again there, ACTIVE; no reservation left", async () => {
    const { w, deps, hv, instance, migrationId, revert } = await finished();
    hv.fault("src", "define", "fail");
    const r = await runAndHandle(deps, revert, [["revert", revertMigration]]);
    expect(r.handled).toMatchObject({ outcome: "failed" });
    expect(hv.where()).toEqual({ b: "running" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "b", vmState: "active" });
    expect((await w.db.stores.migrations.require(migrationId)).status).toBe("error");
  });

  it("the revert's answer is lost after the guest started on its source: the revert stands", async () => {
    const { w, deps, hv, instance, migrationId, revert } = await finished();
    hv.fault("src", "define", "timeout-after");
    const r = await runAndHandle(deps, revert, [["revert", revertMigration]]);
    expect(r.handled).toMatchObject({ outcome: "finished" });
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "src", vmState: "active" });
    expect((await w.db.stores.migrations.require(migrationId)).status).toBe("reverted");
  });
});

describe("the sweeper ends a migration whose execution ended without its failure handler", () => {
  it("finds the guest running on the target: commits there; running at home: releases the task", async () => {
    const { w, deps, hv, instance } = await world();
    let flow = await accepted(deps, instance, { live: true });
    flow = await scheduleMigration(deps, flow);
    flow = await checkMigrationTarget(deps, flow);
    flow = await liveMigrate(deps, flow);
    w.executions.end(flow.executionArn, "ABORTED");
    // The sweeper looks at held tasks older than its minimum age (younger ones' flows are at work).
    expect((await sweep(deps)).endedTasks).toEqual([]);
    const later = Date.now() + (SWEEP_MIN_AGE_SECONDS + 1) * 1000;
    deps.now = () => new Date(later);
    const report = await sweep(deps);
    expect(report.endedTasks).toEqual([
      expect.objectContaining({ instanceUuid: instance.uuid, outcome: "finished" }),
    ]);
    expect(await expectSettled(w, hv, instance.uuid)).toMatchObject({ host: "b", vmState: "active" });
  });
});

/**
 * An executor that holds the first command `matches` picks until released: `reached` resolves when that
 * command has been sent (its ender is then waiting on a host, as on a dead host's probe).
 */
function holdFirst(executor: HostExecutor, matches: (call: HostCall) => boolean) {
  const reached = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  let armed = true;
  const gate = async (call: HostCall) => {
    if (!armed || !matches(call)) return;
    armed = false;
    reached.resolve();
    await released.promise;
  };
  const wrap =
    (how: "run" | "probe"): HostExecutor["run"] =>
    async (host, command, options) => {
      await gate({
        host: host.name,
        document: command.document,
        parameters: command.parameters,
        comment: options?.comment,
        probe: how === "probe",
      });
      return executor[how](host, command, options);
    };
  const held: HostExecutor = { run: wrap("run"), probe: wrap("probe") };
  return { executor: held, reached: reached.promise, release: () => released.resolve() };
}

describe("one ender at a time: a flow's own failure handler and a host evacuation end it together", () => {
  /**
   * A STOPPED instance's cold migration from src to b; src dies while it stops the guest (its commands are
   * never answered), so the flow's handler and src's host evacuation (death proven) both end the flow.
   */
  async function dyingSource() {
    const { w, deps, hv, instance } = await world({ vmState: "stopped", powerState: "shutdown" });
    let flow = await accepted(deps, instance, { live: false });
    flow = await scheduleMigration(deps, flow);
    flow = await checkMigrationTarget(deps, flow);
    hv.fault("src", "stop-and-undefine", "timeout");
    hv.fault("src", "domain-state", "timeout", 10);
    const stopFailed = caughtAs(await stopSource(deps, flow).catch((e: unknown) => e));
    w.executions.statuses.set(flow.executionArn, "RUNNING");
    const evacuation = hostFailureDeps(w).deps;
    const incident: HostEvacuationState = {
      host: "src",
      incidentId: "inc-src",
      executionName: "evac-src",
      source: "alarm",
      reason: null,
      openedAt: new Date().toISOString(),
      outcome: "opened",
      proof: { proof: "power", reason: "powered off by its fence" },
    };
    const evacuationArn = `${evacuation.machines.hostEvacuation}:evac-src`;
    w.executions.statuses.set(evacuationArn, "RUNNING");
    const handlerState = { ...flow, failure: { stopSource: stopFailed } };
    return { w, deps, hv, instance, flow, evacuation, incident, evacuationArn, handlerState };
  }

  const callsAbout = (w: StepWorld, from: number) =>
    w.executor.calls.slice(from).map((c) => `${c.host} ${kindOf(c)}`);

  it("the handler took it first: the evacuation leaves the flow to it (its task held) and plans it once released", async () => {
    const t = await dyingSource();
    const held = holdFirst(t.w.executor, (c) => c.host === "src" && kindOf(c) === "domain-state");
    const handler = handleMigrationFailure({ ...t.deps, executor: held.executor }, t.handlerState);
    await held.reached;
    const before = t.w.executor.calls.length;
    await endMigrationsFromHost(t.evacuation, t.incident);
    // It asked no host and released nothing: the handler still acts on its hosts' answers. (Before the
    // ending was taken, the evacuation released the task here, the instance was evacuated to b, and the
    // handler, its probe of src timed out at last, found a domain on b and removed it: a lost instance.)
    expect(callsAbout(t.w, before)).toEqual([]);
    expect(await t.w.db.stores.instances.require(t.instance.uuid)).toMatchObject({
      taskRequestId: t.flow.requestId,
      taskEnding: { requestId: t.flow.requestId, by: t.flow.executionArn },
    });
    held.release();
    expect(await handler).toMatchObject({ outcome: "failed" });
    const after = await expectSettled(t.w, t.hv, t.instance.uuid);
    expect(after).toMatchObject({ host: "src", vmState: "stopped" });
    // The next round finds no migrate flow to end: the plan takes the instance.
    const next = t.w.executor.calls.length;
    await endMigrationsFromHost(t.evacuation, t.incident);
    expect(callsAbout(t.w, next)).toEqual([]);
  });

  it("the evacuation took it first: the handler gives way, asks no host, and the evacuation ends it", async () => {
    const t = await dyingSource();
    const held = holdFirst(t.w.executor, (c) => c.host === "src" && kindOf(c) === "domain-state");
    const evacuating = endMigrationsFromHost({ ...t.evacuation, executor: held.executor }, t.incident);
    await held.reached;
    const before = t.w.executor.calls.length;
    const handled = await handleMigrationFailure(t.deps, t.handlerState);
    expect(handled).toMatchObject({
      outcome: "failed",
      cause: expect.stringContaining(`the flow is being ended by ${t.evacuationArn}`),
    });
    expect(callsAbout(t.w, before)).toEqual([]);
    held.release();
    await evacuating;
    expect(await expectSettled(t.w, t.hv, t.instance.uuid)).toMatchObject({
      host: "src",
      vmState: "stopped",
    });
  });

  it("a holder whose execution ended without finishing is taken over; one still running is not", async () => {
    const t = await dyingSource();
    // The handler took the ending, then its invocation died: its execution still runs (retrying) ...
    const taken = await takeTaskEnding(t.deps, {
      instanceUuid: t.instance.uuid,
      requestId: t.flow.requestId,
      ender: t.flow.executionArn,
      takeOver: false,
    });
    expect(taken.kind).toBe("taken");
    await endMigrationsFromHost(t.evacuation, t.incident);
    expect((await t.w.db.stores.instances.require(t.instance.uuid)).taskRequestId).toBe(t.flow.requestId);
    // ... then it failed for good: the evacuation ends the flow itself.
    t.w.executions.statuses.set(t.flow.executionArn, "FAILED");
    await endMigrationsFromHost(t.evacuation, t.incident);
    expect(await expectSettled(t.w, t.hv, t.instance.uuid)).toMatchObject({
      host: "src",
      vmState: "stopped",
    });
    // The handler retried late finds nothing of its own to do.
    expect(await handleMigrationFailure(t.deps, t.handlerState)).toMatchObject({ outcome: "failed" });
  });

  it("once another party holds the ending, the flow's next step acts on no host, nor does a retried one", async () => {
    /** A STOPPED instance's cold migration stopped at its source; `advanced`: StartOnTarget's move made. */
    async function stoppedAtSource(advanced: boolean) {
      const { w, deps, hv, instance } = await world({ vmState: "stopped", powerState: "shutdown" });
      let flow = await accepted(deps, instance, { live: false });
      flow = await scheduleMigration(deps, flow);
      flow = await checkMigrationTarget(deps, flow);
      flow = await stopSource(deps, flow);
      // StartOnTarget made its move, then its invocation died before its host command.
      if (advanced)
        await advanceTaskState(deps, instance.uuid, flow.requestId, "resize_migrated", "resize_finish");
      const taken = await takeTaskEnding(deps, {
        instanceUuid: instance.uuid,
        requestId: flow.requestId,
        ender: "arn:aws:states:us-east-1:000000000000:execution:lazarus-host-evacuation:evac-1",
        takeOver: true,
      });
      expect(taken.kind).toBe("taken");
      return { w, deps, hv, flow };
    }
    for (const advanced of [false, true]) {
      const { w, deps, hv, flow } = await stoppedAtSource(advanced);
      const before = w.executor.calls.length;
      const refused = caughtAs(await startOnTarget(deps, flow).catch((e: unknown) => e));
      expect(refused.Error, `move made: ${advanced}`).toBe("UnexpectedTaskState");
      if (!advanced) await stopSource(deps, flow); // retried, its moves made: nothing to do
      expect(w.executor.calls.slice(before)).toEqual([]);
      expect(hv.where()).toEqual({});
    }
  });

  it("a holder stopped mid-invocation (ABORTED), or the sweeper, is taken over only once Lambda's maximum has passed since the stop (the sweeper: since it took the ending)", async () => {
    const t = await dyingSource();
    const take = (ender: string, deps = t.deps) =>
      takeTaskEnding(deps, {
        instanceUuid: t.instance.uuid,
        requestId: t.flow.requestId,
        ender,
        takeOver: true,
      });
    expect((await take(t.flow.executionArn)).kind).toBe("taken");
    const MAY_ACT = STOPPED_EXECUTION_MAY_ACT_SECONDS;
    const later = (s: number) => ({ ...t.deps, now: () => new Date(Date.now() + s * 1000) });
    // Stopped 100 s after it took the ending: Step Functions does not wait for the invocation in flight,
    // which may act until Lambda's maximum after the stop (not after the taking).
    t.w.executions.end(t.flow.executionArn, "ABORTED", new Date(Date.now() + 100_000));
    expect(await take(t.evacuationArn)).toEqual({ kind: "held", by: t.flow.executionArn });
    expect(await take(t.evacuationArn, later(MAY_ACT + 1))).toEqual({
      kind: "held",
      by: t.flow.executionArn,
    });
    expect((await take(t.evacuationArn, later(100 + MAY_ACT + 1))).kind).toBe("taken");
    // The sweeper's holding is judged by time alone.
    expect((await take("sweeper", later(100 + MAY_ACT + 2))).kind).toBe("held");
    t.w.executions.end(t.evacuationArn, "FAILED");
    expect((await take("sweeper", later(100 + MAY_ACT + 2))).kind).toBe("taken");
    expect((await take(t.evacuationArn, later(100 + MAY_ACT + 3))).kind).toBe("held");
    expect((await take(t.evacuationArn, later(100 + 2 * MAY_ACT + 3))).kind).toBe("taken");
  });
});
