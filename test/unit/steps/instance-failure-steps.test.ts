/**
 * The instance-recovery steps against dynalite for a host that was reset and booted again (its agent reports
 * every domain it found shut off: `host-reset`): with no incident and no proof the boot is recorded on the
 * host and the guest is restarted in place (whatever its crash budget); while the host's incident is open the
 * recovery waits, and decides again once it is over; a proof of the host's death, recorded before or after
 * the report, means no restart there; a reset never trips the storm guard nor counts toward it; and the lease
 * no longer counts the silence before a recorded reset.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openRecovery } from "#functions/instance-failure/steps/open.js";
import { decide, restart } from "#functions/instance-failure/steps/recover.js";
import {
  DEFAULT_INSTANCE_FAILURE_CONFIG,
  DomainStoppedDetail,
  HOST_RESET,
  recoveryId,
} from "#shared/domain/instance-failure.js";
import type { DeathProof, HostIncident } from "#shared/domain/schemas.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";
import { type StepWorld, seedHosts, seedInstance, useStepHarness } from "../../support/step-harness.js";

const newWorld = useStepHarness();

function instanceFailureDeps(w: StepWorld, now = () => new Date()) {
  const started: string[] = [];
  const deps: InstanceFailureDeps = {
    ...w.deps,
    now,
    starter: {
      start: async (machine, name) => {
        started.push(name);
        return { started: true, executionArn: `${machine}:${name}` };
      },
    },
    config: { ...DEFAULT_INSTANCE_FAILURE_CONFIG, hostWaitSeconds: 600 },
    probeDeadlineMs: 1000,
    recoveryPollSeconds: 2,
    machines: { instanceRecovery: "arn:instance-recovery", hostEvacuation: "arn:evac" },
    alerts: { alert: async () => undefined },
  };
  return { deps, started };
}

const BOOTED_AT = new Date(Date.now() - 30_000).toISOString();

function resetReport(host: string, instanceUuid: string, reason: DomainStoppedDetail["reason"] = HOST_RESET) {
  const report = DomainStoppedDetail.parse({
    host,
    instanceUuid,
    domain: `instance-${instanceUuid}`,
    event: "Stopped",
    reason,
    stoppedAt: reason === HOST_RESET ? BOOTED_AT : new Date().toISOString(),
  });
  return { recoveryId: recoveryId(report), report };
}

const open = (
  deps: InstanceFailureDeps,
  request: ReturnType<typeof resetReport>,
  arn = `arn:exec:${request.recoveryId}`,
) => openRecovery(deps, { request, executionArn: arn });

function incident(status: HostIncident["status"]): HostIncident {
  const at = new Date().toISOString();
  return {
    id: "alarm-x",
    status,
    source: "alarm",
    reason: null,
    executionName: "evac-x",
    openedAt: at,
    updatedAt: at,
    summary: null,
  };
}
const PROOF: DeathProof = {
  kind: "lease",
  at: new Date().toISOString(),
  incidentId: "alarm-x",
  detail: "lease (test)",
};

describe("a reset host's shut-off guests", () => {
  it("no incident, no proof: the reset is recorded on the host and the guest restarted in place, budget or not", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "host-1", pool: null }]);
    const vm = await seedInstance(w, "host-1", { vmState: "active", powerState: "running" });
    const { deps, started } = instanceFailureDeps(w);
    // A crash restarted it an hour's budget ago: a reset spends no budget.
    await w.db.stores.recoveries.open({
      id: randomUUID(),
      instanceUuid: vm.uuid,
      host: "host-1",
      reason: "Failed",
      stoppedAt: new Date(Date.now() - 120_000).toISOString(),
      detectedAt: new Date(Date.now() - 120_000).toISOString(),
      status: "restarted",
      message: null,
      executionArn: "arn:old",
      attempts: [
        {
          action: "restart",
          host: "host-1",
          at: new Date(Date.now() - 110_000).toISOString(),
          outcome: "succeeded",
          error: null,
        },
      ],
      relocation: null,
    });
    const req = resetReport("host-1", vm.uuid);
    const opened = await open(deps, req);
    expect(opened).toMatchObject({ outcome: "recover" });
    expect((await w.db.stores.hosts.require("host-1")).lastReset?.at).toBe(BOOTED_AT);
    expect(started).toEqual([]); // never a storm
    const decided = await decide(deps, { ...opened, domain: "stopped" });
    expect(decided.decision).toMatchObject({ action: "restart" });
    w.executor.on((call) =>
      call.document === "probe-domain-state" ? { exitCode: 0, stdout: "running\n", stderr: "" } : undefined,
    );
    const done = await restart(deps, decided);
    expect(done.restart).toBe("succeeded");
    expect(await w.db.stores.instances.require(vm.uuid)).toMatchObject({
      taskState: null,
      powerState: "running",
    });
    expect(w.executor.calls.some((c) => c.host === "host-1" && c.document === "start-domain")).toBe(true);
  });

  it("an open incident: it waits (nothing recorded, nothing started), then recovers once the incident is over", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "host-1", pool: null, overrides: { incident: incident("evacuating") } }]);
    const vm = await seedInstance(w, "host-1", { vmState: "active" });
    const { deps } = instanceFailureDeps(w);
    const req = resetReport("host-1", vm.uuid);
    const arn = `arn:exec:${req.recoveryId}`;
    const first = await open(deps, req, arn);
    expect(first).toMatchObject({ outcome: "wait", waitSeconds: 2 });
    expect(await w.db.stores.recoveries.require(req.recoveryId)).toMatchObject({ status: "waiting" });
    expect((await w.db.stores.hosts.require("host-1")).lastReset).toBeNull();
    // Another delivery of the same report: a duplicate, whoever's turn.
    expect((await open(deps, req, "arn:exec:other")).outcome).toBe("duplicate");
    // The incident ends not dead (the host is back): the next look recovers.
    await w.db.stores.hostIncidents.update("host-1", "alarm-x", "not-dead");
    expect((await open(deps, req, arn)).outcome).toBe("recover");
    expect((await w.db.stores.hosts.require("host-1")).lastReset?.at).toBe(BOOTED_AT);
  });

  it("a proof of the host's death: never a restart there (recorded before, or between the decision and the start)", async () => {
    const w = await newWorld();
    await seedHosts(w, [
      { name: "host-1", pool: null, overrides: { forcedDown: true, deathProof: PROOF } },
      { name: "host-2", pool: null },
    ]);
    const vm1 = await seedInstance(w, "host-1", { vmState: "active" });
    const { deps } = instanceFailureDeps(w);
    const req = resetReport("host-1", vm1.uuid);
    expect(await open(deps, req)).toMatchObject({ outcome: "ignored" });
    expect(await w.db.stores.recoveries.require(req.recoveryId)).toMatchObject({ status: "ignored" });
    expect((await w.db.stores.hosts.require("host-1")).lastReset).toBeNull();
    // host-2: recovery decided, then its host is proven dead before the start: the task goes back, no start.
    const vm2 = await seedInstance(w, "host-2", { vmState: "active" });
    const opened = await open(deps, resetReport("host-2", vm2.uuid));
    const decided = await decide(deps, { ...opened, domain: "stopped" });
    await w.db.stores.hosts.forceDown("host-2", PROOF);
    await expect(restart(deps, decided)).rejects.toMatchObject({ name: "ProbeFailed" });
    expect(await w.db.stores.instances.require(vm2.uuid)).toMatchObject({
      taskState: null,
      taskRequestId: null,
    });
    expect(w.executor.calls.filter((c) => c.document === "start-domain")).toEqual([]);
  });

  it("an incident still open after hostWaitSeconds: the recovery gives the instance up to the host-failure flow", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "host-1", pool: null, overrides: { incident: incident("evacuating") } }]);
    const vm = await seedInstance(w, "host-1", { vmState: "active" });
    let now = Date.now();
    const { deps } = instanceFailureDeps(w, () => new Date(now));
    const req = resetReport("host-1", vm.uuid);
    const arn = `arn:exec:${req.recoveryId}`;
    expect((await open(deps, req, arn)).outcome).toBe("wait");
    now += 601_000;
    const gaveUp = await open(deps, req, arn);
    expect(gaveUp.outcome).toBe("ignored");
    expect(gaveUp.message).toMatch(/still after 600 s/);
  });

  it("resets never trip the storm guard, nor count toward it for later crashes", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "host-1" }]);
    const vms = await Promise.all([1, 2, 3, 4].map(() => seedInstance(w, "host-1", { vmState: "active" })));
    const { deps, started } = instanceFailureDeps(w);
    for (const vm of vms.slice(0, 3))
      expect((await open(deps, resetReport("host-1", vm.uuid))).outcome).toBe("recover");
    // A crash after three resets on the host: one crash, not four.
    expect((await open(deps, resetReport("host-1", vms[3]!.uuid, "Failed"))).outcome).toBe("recover");
    expect(started).toEqual([]);
  });
});

describe("the hosts store: recordReset", () => {
  it("records a later boot only while no proof and no open incident; an earlier or equal boot changes nothing", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "host-1" }]);
    const s = w.db.stores.hosts;
    const t = (ms: number) => new Date(Date.parse(BOOTED_AT) + ms).toISOString();
    expect((await s.recordReset("host-1", t(0))).outcome).toBe("recorded");
    const v = (await s.require("host-1")).version;
    expect((await s.recordReset("host-1", t(-1000))).host.version).toBe(v);
    expect((await s.recordReset("host-1", t(0))).host.version).toBe(v);
    expect((await s.recordReset("host-1", t(5000))).host.lastReset?.at).toBe(t(5000));
    await w.db.stores.hostIncidents.open("host-1", incident("confirming"));
    expect((await s.recordReset("host-1", t(9000))).outcome).toBe("incident-open");
    await w.db.stores.hostIncidents.update("host-1", "alarm-x", "closed");
    await s.forceDown("host-1", PROOF);
    expect((await s.recordReset("host-1", t(9000))).outcome).toBe("proven-dead");
    expect((await s.require("host-1")).lastReset?.at).toBe(t(5000));
  });
});
