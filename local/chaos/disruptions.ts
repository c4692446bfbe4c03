/**
 * The disruptions a chaos round draws: the failures the flows must survive without ever running a VM twice,
 * each made to really happen on the local cloud (processes killed or frozen by pid, a machine's power cut, a
 * watchdog device's feeds broken, a BMC refusing, an operator's requests over the API). Each waits for the
 * system's answer to play out (an evacuation ended, a device reset the node) within a bound, then returns;
 * the round then settles and checks the invariants. What a round can only check by itself (an evacuation
 * admitted without proof, a held host's instance moved) it reports as a violation through the context.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { Instance } from "#shared/domain/schemas.js";
import { putEntryOf } from "../events/events-endpoint.js";
import { processesOfUid } from "../hosts/local-host.js";
import { qemuProcessesOf } from "../qemu-sampler.js";
import {
  alarmEvent,
  evacuationEnded,
  executionsOf,
  type HostKind,
  localHost,
  machineOf,
  occupiedHosts,
  type RoundContext,
  sleep,
  victim,
  waitFor,
} from "./round.js";

export const DISRUPTIONS = [
  "host-kill",
  "heartbeat-stop",
  "agent-stop",
  "requests",
  "lease-lost",
  "user-space-cut",
  "frozen-libvirtd",
  "dead-feeder",
  "fencing-required",
  "mass-failure",
  "crash-loop",
] as const;
export type Disruption = (typeof DISRUPTIONS)[number];

const IMAGES = ["cirros-0.6", "ubuntu-24.04"];
/** Bounds of the waits for the system's answer (the round goes on after them, and says so). */
const EVACUATION_WAIT_MS = 240_000;
const ALARM_WAIT_MS = 60_000;

export const DISRUPTION: Record<Disruption, (ctx: RoundContext) => Promise<void>> = {
  "host-kill": hostKill,
  "heartbeat-stop": heartbeatStop,
  "agent-stop": agentStop,
  requests: concurrentRequests,
  "lease-lost": leaseLost,
  "user-space-cut": (ctx) => userSpaceCut(ctx, false),
  "frozen-libvirtd": (ctx) => userSpaceCut(ctx, true),
  "dead-feeder": deadFeeder,
  "fencing-required": fencingRequired,
  "mass-failure": massFailure,
  "crash-loop": crashLoop,
};

/** Which disruptions need a host of a kind to hit (none: any host). */
export const DISRUPTION_NEEDS: Partial<Record<Disruption, HostKind>> = { "dead-feeder": "watchdog" };

/**
 * An up host holding instances (of `kind` if given; with `orEmpty`, an empty one of that kind when no
 * occupied one is left), drawn; `prefer`: a kind drawn first with this chance when it has candidates.
 */
async function pickVictim(
  ctx: RoundContext,
  opts: { kind?: HostKind; orEmpty?: boolean; prefer?: { kind: HostKind; chance: number } } = {},
): Promise<string | undefined> {
  let candidates = await occupiedHosts(ctx, opts.kind);
  if (candidates.length === 0 && opts.orEmpty && opts.kind) {
    const kind = opts.kind;
    candidates = [...ctx.cloud.fleet.hosts.keys()].filter(
      (h) => ctx.kindOf(h) === kind && machineOf(ctx.cloud, h).state === "on",
    );
  }
  const preferred = opts.prefer ? candidates.filter((h) => ctx.kindOf(h) === opts.prefer!.kind) : [];
  if (preferred.length > 0 && ctx.rnd.chance(opts.prefer!.chance)) candidates = preferred;
  if (candidates.length === 0) {
    ctx.log(`  no${opts.kind ? ` ${opts.kind}` : ""} host to disrupt`);
    return undefined;
  }
  const name = ctx.rnd.pick(candidates);
  victim(ctx, name);
  return name;
}

/**
 * A host that cannot be told from a dead one any more, then back: waits for its evacuation to end, or (a
 * watchdog host) for the device to reset it, whichever the host's kind makes happen.
 */
async function afterCut(ctx: RoundContext, name: string, since: number): Promise<void> {
  if (ctx.kindOf(name) === "watchdog") {
    const reset = await waitFor(
      ctx,
      `watchdog reset of ${name}`,
      (ctx.settings.watchdogSeconds + 20) * 1000,
      () => ((machineOf(ctx.cloud, name).lastPowerOff("watchdog") ?? 0) >= since ? true : undefined),
    );
    if (reset) ctx.log(`  ${name}: the watchdog device reset the node`);
  }
  await evacuationEnded(ctx, name, since, EVACUATION_WAIT_MS);
}

async function hostKill(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log } = ctx;
  const name = await pickVictim(ctx);
  if (!name) return;
  const duplicates = rnd.chance(0.6) ? rnd.int(1, 3) : 0;
  const during = rnd.pick(["nothing", "second-kill", "victim-returns"] as const);
  log(`  kill ${name}${duplicates ? `, ${duplicates} duplicate alarm(s)` : ""}, then ${during}`);
  const eventsBefore = cloud.events.events.length;
  const since = Date.now();
  await cloud.killHost(name);
  ctx.fault("host-kill");
  const alarm = await waitFor(ctx, `${name}'s ALARM event`, ALARM_WAIT_MS, () =>
    alarmEvent(cloud, name, eventsBefore),
  );
  for (let i = 0; alarm && i < duplicates; i++) {
    await ctx.eventBridge.send(new PutEventsCommand({ Entries: [putEntryOf(alarm)] }));
    ctx.fault("duplicate-alarm");
  }
  // Until the evacuation moves something (a child rebuild runs) or ends.
  await waitFor(ctx, `${name}'s evacuation to start evacuating`, 90_000, () => {
    const children = cloud.stepFunctions.listExecutions({
      stateMachineArn: cloud.rebuildStateMachineArn,
      statusFilter: "RUNNING",
    });
    if ((children.executions ?? []).length > 0) return true;
    const ran = executionsOf(cloud, "host-evacuation", name).filter(
      (e) => (e.startDate?.getTime() ?? 0) >= since,
    );
    return ran.length > 0 && ran.every((e) => e.status !== "RUNNING") ? true : undefined;
  });
  const killed = [name];
  if (during === "second-kill") {
    const others = (await occupiedHosts(ctx)).filter((h) => h !== name);
    // Keep at least two hosts up: one to hold what moves, one more for the reschedules.
    const up = [...cloud.fleet.hosts.values()].filter((h) => h.running).length;
    if (others.length > 0 && up > 2) {
      const second = rnd.pick(others);
      victim(ctx, second);
      log(`  kill ${second} while ${name} is evacuated`);
      await cloud.killHost(second);
      killed.push(second);
      ctx.fault("host-kill");
    }
  } else if (during === "victim-returns") {
    // A drawn moment of the return, within the evacuation.
    await sleep(rnd.int(0, 3000));
    log(`  ${name} returns while it is evacuated`);
    await cloud.restartHost(name);
    ctx.operation("host-restart");
  }
  for (const h of killed) await evacuationEnded(ctx, h, since, EVACUATION_WAIT_MS);
}

async function heartbeatStop(ctx: RoundContext): Promise<void> {
  const name = await pickVictim(ctx);
  if (!name) return;
  const host = localHost(ctx.cloud, name);
  ctx.log(
    `  stop ${name}'s heartbeat (SIGKILL to lazarus-host heartbeat; the host and its guests run${ctx.kindOf(name) === "watchdog" ? "; its watchdog is no longer fed" : ""})`,
  );
  const since = Date.now();
  await host.stopHeartbeat();
  ctx.fault("heartbeat-stop");
  try {
    if (ctx.kindOf(name) === "watchdog") await afterCut(ctx, name, since);
    else {
      // It answers SSM: its incident watches it (not dead, not closed) until its heartbeat is back; or the
      // incident ended otherwise (held with others, say).
      await waitFor(ctx, `${name}'s incident watching it`, EVACUATION_WAIT_MS, async () => {
        const incident = (await ctx.cloud.stores.hosts.require(name)).incident;
        if (!incident || Date.parse(incident.openedAt) < since) return undefined;
        return incident.summary?.verdict === "watching" || incident.status !== "confirming"
          ? true
          : undefined;
      });
    }
  } finally {
    host.startHeartbeat();
  }
  await evacuationEnded(ctx, name, since, EVACUATION_WAIT_MS);
}

async function agentStop(ctx: RoundContext): Promise<void> {
  const { cloud, rnd } = ctx;
  const name = await pickVictim(ctx);
  if (!name) return;
  const host = localHost(cloud, name);
  const outageMs = rnd.int(2000, 8000);
  ctx.log(`  stop ${name}'s SSM agent for ${outageMs} ms (guests and heartbeat run); rebuild its instances`);
  await host.stopAgent();
  ctx.fault("agent-stop");
  try {
    const mine = (await cloud.stores.instances.list()).filter((i) => i.host === name);
    await Promise.all(rnd.sample(mine, 2).map((inst) => startRebuild(ctx, inst, "direct")));
    await sleep(outageMs);
  } finally {
    await host.startAgent();
  }
}

async function leaseLost(ctx: RoundContext): Promise<void> {
  const name = await pickVictim(ctx);
  if (!name) return;
  const host = localHost(ctx.cloud, name);
  ctx.log(`  ${name} loses its management network: agent and heartbeat stop, its guests keep running`);
  const since = Date.now();
  await host.stopHeartbeat();
  await host.stopAgent();
  ctx.fault("lease-lost");
  try {
    await afterCut(ctx, name, since);
  } finally {
    if (host.running) {
      await host.startAgent();
      host.startHeartbeat();
    }
  }
}

const LIBVIRT_AND_QEMU = new Set(["libvirtd", "virtlogd", "qemu-system-x86", "qemu-system-x86_64"]);
const commOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
};

/**
 * Issue 26 outcomes 1 and 2: every process of the host's user but libvirt's and qemu's killed (its agents,
 * its heartbeat and feeder, its monitor: what a crashed user space or a lost management network leaves),
 * optionally with libvirtd frozen (SIGSTOP by pid) first. A watchdog host's device resets the node; a BMC
 * host is fenced. Either way no copy may start elsewhere while the guests run.
 */
async function userSpaceCut(ctx: RoundContext, freezeLibvirtd: boolean): Promise<void> {
  const name = await pickVictim(ctx);
  if (!name) return;
  const host = localHost(ctx.cloud, name);
  const since = Date.now();
  const libvirtd = freezeLibvirtd ? host.libvirtdPid : undefined;
  if (libvirtd !== undefined) {
    process.kill(libvirtd, "SIGSTOP");
    ctx.fault("libvirtd-frozen");
    ctx.log(`  ${name}: libvirtd frozen (SIGSTOP to pid ${libvirtd})`);
  }
  const victims = processesOfUid(host.uid).filter((pid) => !LIBVIRT_AND_QEMU.has(commOf(pid)));
  for (const pid of victims) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  ctx.fault("user-space-cut");
  ctx.log(
    `  ${name}: ${victims.length} processes killed, every one but libvirt's and qemu's (guests keep running)`,
  );
  try {
    await afterCut(ctx, name, since);
  } finally {
    // Still frozen when nothing reset or fenced the host (e.g. a mass failure held): thawed, as an
    // operator would once the round is over.
    if (libvirtd !== undefined && host.libvirtdPid === libvirtd) {
      try {
        process.kill(libvirtd, "SIGCONT");
      } catch {
        // gone with the reset
      }
    }
  }
}

/** Issue 26 outcome 6: the device refuses every feed on a heartbeating watchdog host: the node resets. */
async function deadFeeder(ctx: RoundContext): Promise<void> {
  const name = await pickVictim(ctx, { kind: "watchdog", orEmpty: true });
  if (!name) return;
  const device = machineOf(ctx.cloud, name).watchdog;
  if (!device) return ctx.log(`  ${name} has no watchdog device`);
  const since = Date.now();
  device.breakFeeds();
  ctx.fault("dead-feeder");
  ctx.log(`  ${name}: its watchdog device fails every feed (heartbeats go on)`);
  await afterCut(ctx, name, since);
}

/** A call of the operator's on the local cloud's API (status 0: no answer). */
export async function apiCall(
  ctx: RoundContext,
  method: string,
  path: string,
  microversion: string,
  body: unknown,
): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(`${ctx.cloud.api.url}/v2.1${path}`, {
      method,
      headers: { "content-type": "application/json", "OpenStack-API-Version": `compute ${microversion}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  } catch (e) {
    return { status: 0, text: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Operator evacuations during "fencing required" (issue 26 outcome 4): a host cut off with no way to prove it
 * dead (a BMC host whose BMC refuses; a watchdog host whose agent was stopped on purpose first, so its last
 * heartbeat said no watchdog is armed). Its instances on local disks must be refused at every way in (the
 * API at 2.29 and 2.95, the rebuild machine with recreate) while it has no proof; a shared disk under the
 * pool's lock may be tried and is refused by the lock. The operator then powers the host off and forces it
 * down: from then on an evacuation is admitted (proof `operator`), by hand or by the running incident.
 */
async function fencingRequired(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log } = ctx;
  // Mostly a local-disk host: there nothing but the host's own proof may admit an evacuation.
  const name = await pickVictim(ctx, { prefer: { kind: "watchdog", chance: 0.7 } });
  if (!name) return;
  const host = localHost(cloud, name);
  const since = Date.now();
  if (ctx.kindOf(name) === "pool") {
    cloud.bmcs.setFault(name, { mode: "fail" });
    log(`  ${name}'s BMC refuses every power control; its agent and heartbeat stop, its guests run`);
  } else {
    // A deliberate stop first: the last heartbeat says 0 and the device is disarmed (no lease, ever).
    const pid = host.heartbeatPid;
    if (pid !== undefined) process.kill(pid, "SIGTERM");
    await waitFor(ctx, `${name}'s heartbeat to stop`, 15_000, () => (host.heartbeating ? undefined : true));
    log(
      `  ${name}'s agent stopped on purpose (its watchdog disarmed), then its SSM agent: no proof possible`,
    );
  }
  await host.stopHeartbeat();
  await host.stopAgent();
  ctx.fault("fencing-required");
  try {
    const mine = (await cloud.stores.instances.list()).filter(
      (i) => i.host === name && i.vmState === "active",
    );
    const marked = await waitFor(
      ctx,
      `an instance of ${name} marked "fencing required"`,
      120_000,
      async () => {
        const now = await Promise.all(mine.map((i) => cloud.stores.instances.get(i.uuid)));
        const waiting = now.filter((i): i is Instance => i?.fencingRequired?.host === name);
        return waiting.length > 0 ? waiting : undefined;
      },
    );
    for (const inst of marked ?? []) {
      const source = await cloud.stores.hosts.require(name);
      const mustRefuse =
        source.deathProof === null &&
        (source.storage.sharedPoolId === null || inst.onSharedStorage === false || !source.fencing.diskLocks);
      for (const mv of ["2.29", "2.95"]) {
        const res = await apiCall(ctx, "POST", `/servers/${inst.uuid}/action`, mv, { evacuate: {} });
        ctx.operation(`operator-evacuate-${res.status}`);
        log(`  operator: evacuate ${inst.name} at ${mv} -> ${res.status}`);
        if (mustRefuse && res.status >= 200 && res.status < 300)
          ctx.violation(
            "admission",
            `evacuate of ${inst.name} at ${mv} accepted (${res.status}) while ${name} had no proof of death and its disk is not under a lock`,
          );
      }
      if (mustRefuse) {
        const direct = await startRebuild(ctx, inst, "evacuate");
        const run = await waitFor(ctx, `the direct evacuation of ${inst.name} to end`, 120_000, () => {
          const d = cloud.stepFunctions.describeExecution(direct);
          return d.status === "RUNNING" ? undefined : d;
        });
        log(
          `  operator: the rebuild machine with recreate for ${inst.name} -> ${run?.status} ${run?.error ?? ""}`,
        );
        if (run?.status === "SUCCEEDED")
          ctx.violation(
            "admission",
            `the rebuild machine evacuated ${inst.name} (recreate) while ${name} had no proof of death`,
          );
      }
    }
    // The operator makes sure the host is off (pulls its power: the BMC refuses, or there is none), then says
    // so: nova's force-down.
    await cloud.killHost(name);
    const down = await apiCall(ctx, "PUT", "/os-services/force-down", rnd.pick(["2.11", "2.52"]), {
      host: name,
      binary: "nova-compute",
      forced_down: true,
    });
    ctx.operation(`operator-force-down-${down.status}`);
    log(`  operator: ${name} powered off by hand and forced down -> ${down.status}`);
    // Evacuate by hand what the running incident has not (it may have given up already).
    for (const inst of marked ?? []) {
      const now = await cloud.stores.instances.get(inst.uuid);
      if (!now || now.host !== name || now.taskState !== null) continue;
      const res = await apiCall(ctx, "POST", `/servers/${inst.uuid}/action`, rnd.pick(["2.29", "2.95"]), {
        evacuate: {},
      });
      ctx.operation(`operator-evacuate-after-force-down-${res.status}`);
      log(`  operator: evacuate ${inst.name} after the force-down -> ${res.status}`);
      if (/FencingRequired|Fencing required/.test(res.text))
        ctx.violation(
          "admission",
          `evacuate of ${inst.name} refused for want of proof after ${name} was forced down`,
        );
    }
    await evacuationEnded(ctx, name, since, EVACUATION_WAIT_MS);
    await waitFor(ctx, "the operator's evacuations to end", 180_000, () =>
      (
        cloud.stepFunctions.listExecutions({
          stateMachineArn: cloud.rebuildStateMachineArn,
          statusFilter: "RUNNING",
        }).executions ?? []
      ).length === 0
        ? true
        : undefined,
    );
  } finally {
    cloud.bmcs.setFault(name, null);
  }
}

/**
 * More than a third of the fleet loses power at once: the mass-failure guard holds every incident; nothing
 * is disabled, fenced or moved (any evacuation of their instances in the round is a violation).
 */
async function massFailure(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log } = ctx;
  const all = [...cloud.fleet.hosts.keys()].filter((h) => machineOf(cloud, h).state === "on");
  const count = Math.floor(cloud.fleet.hosts.size / 3) + 1;
  if (all.length - count < 1) return log(`  not enough hosts up for a mass failure of ${count}`);
  const occupied = await occupiedHosts(ctx);
  const first = occupied.length > 0 ? [rnd.pick(occupied)] : [];
  const victims = [
    ...first,
    ...rnd.sample(
      all.filter((h) => !first.includes(h)),
      count - first.length,
    ),
  ];
  const onThem = (await cloud.stores.instances.list()).filter((i) => victims.includes(i.host));
  const since = Date.now();
  log(`  ${victims.join(", ")} lose power at once (${victims.length} of ${cloud.fleet.hosts.size})`);
  await Promise.all(
    victims.map((h) => {
      victim(ctx, h);
      ctx.fault("host-kill");
      return cloud.killHost(h);
    }),
  );
  ctx.fault("mass-failure");
  for (const h of victims) await evacuationEnded(ctx, h, since, EVACUATION_WAIT_MS);
  for (const h of victims) {
    const incident = (await cloud.stores.hosts.require(h)).incident;
    log(`  ${h}: incident ${incident?.id ?? "none"} ${incident?.status ?? ""}`);
    if (incident && incident.status !== "held" && Date.parse(incident.openedAt) >= since)
      ctx.violation(
        "held",
        `${h}'s incident ${incident.id} is ${incident.status}, not held, in a mass failure`,
      );
  }
  const moved = cloud.stepFunctions
    .listExecutions({ stateMachineArn: cloud.rebuildStateMachineArn, maxResults: 1000 })
    .executions?.map((e) => cloud.stepFunctions.describeExecution(e.executionArn!))
    .filter((d) => (d.startDate?.getTime() ?? 0) >= since)
    .map((d) => JSON.parse(d.input ?? "{}") as { instanceUuid?: string; recreate?: boolean })
    .filter((input) => input.recreate && onThem.some((i) => i.uuid === input.instanceUuid));
  for (const m of moved ?? [])
    ctx.violation(
      "held",
      `instance ${m.instanceUuid} was evacuated during a mass failure of ${victims.join(", ")}`,
    );
}

/**
 * A guest crash loop: the qemu process of an HA instance killed by pid again and again (2-4 times),
 * following it wherever it runs: instance recovery restarts it, then relocates it (shared disk) or gives up
 * (local disk); three crash reports on one host within the window trip the storm guard, which hands the host
 * to the host-failure flow (alive: nothing moves).
 */
async function crashLoop(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log } = ctx;
  const running = qemuProcessesOf(cloud.fleet.hosts.values());
  const instances = (await cloud.stores.instances.list()).filter(
    (i) =>
      i.vmState === "active" &&
      i.taskState === null &&
      i.haEnabled &&
      running.some((p) => p.uuid === i.uuid && p.host === i.host),
  );
  if (instances.length === 0) return log("  no running HA instance for a crash loop");
  const target = rnd.pick(instances);
  // Sometimes a second guest of the same host crashes too: the storm guard's three reports come sooner.
  const others = instances.filter((i) => i.host === target.host && i.uuid !== target.uuid);
  const loopers = [target, ...(others.length > 0 && rnd.chance(0.5) ? [rnd.pick(others)] : [])];
  victim(ctx, target.host);
  const kills = rnd.int(2, 4);
  log(
    `  crash loop: ${loopers.map((i) => i.name).join(" and ")} on ${target.host}, up to ${kills} kills each`,
  );
  await Promise.all(
    loopers.map(async (inst) => {
      for (let k = 1; k <= kills; k++) {
        const proc = await waitFor(ctx, `${inst.name} running`, 30_000, () =>
          qemuProcessesOf(cloud.fleet.hosts.values()).find((p) => p.uuid === inst.uuid),
        );
        if (!proc) return;
        const before = recoveriesOf(ctx, inst.uuid).length;
        try {
          process.kill(proc.pid, "SIGKILL");
        } catch {
          continue; // gone meanwhile
        }
        ctx.fault("qemu-kill");
        log(`  ${inst.name}: qemu pid ${proc.pid} on ${proc.host} killed (${k}/${kills})`);
        // Its recovery (or its storm hand-over) to start and end.
        await waitFor(ctx, `${inst.name}'s recovery`, 120_000, () => {
          const runs = recoveriesOf(ctx, inst.uuid);
          return runs.length > before && runs.every((r) => r.status !== "RUNNING") ? true : undefined;
        });
        const now = await cloud.stores.instances.get(inst.uuid);
        const latest = (await cloud.stores.recoveries.listByInstance(inst.uuid)).sort((a, b) =>
          b.detectedAt.localeCompare(a.detectedAt),
        )[0];
        log(
          `  ${inst.name}: recovery ${latest?.status ?? "none"}${latest?.message ? ` (${latest.message.slice(0, 160)})` : ""}; now ${now?.vmState} on ${now?.host}`,
        );
        // Given up (ERROR) or handed to the host-failure flow (storm): the loop is over for this guest.
        if (now?.vmState !== "active" || (latest?.status !== "restarted" && latest?.status !== "relocated"))
          return;
      }
    }),
  );
}

function recoveriesOf(ctx: RoundContext, uuid: string) {
  const arn = ctx.cloud.stateMachineArns["instance-recovery"]!;
  return (ctx.cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 }).executions ?? [])
    .map((e) => ctx.cloud.stepFunctions.describeExecution(e.executionArn!))
    .filter(
      (d) =>
        (JSON.parse(d.input ?? "{}") as { report?: { instanceUuid?: string } }).report?.instanceUuid === uuid,
    );
}

/** Several requests at once on one or two instances: API rebuilds and evacuations, direct executions. */
export async function concurrentRequests(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log } = ctx;
  const instances = (await cloud.stores.instances.list()).filter((i) => i.taskState === null);
  const targets = rnd.sample(instances, rnd.int(1, 2));
  const calls: Promise<unknown>[] = [];
  for (const inst of targets) {
    const n = rnd.int(2, 4);
    log(`  ${n} concurrent requests on ${inst.name} (${inst.host})`);
    for (let i = 0; i < n; i++) {
      const how = rnd.pick(["api-rebuild", "api-evacuate", "direct-rebuild", "direct-evacuate"] as const);
      calls.push(
        how === "api-rebuild" || how === "api-evacuate"
          ? apiAction(ctx, inst, how === "api-rebuild" ? "rebuild" : "evacuate")
          : startRebuild(ctx, inst, how === "direct-rebuild" ? "direct" : "evacuate"),
      );
    }
  }
  await Promise.all(calls);
}

async function apiAction(ctx: RoundContext, inst: Instance, action: "rebuild" | "evacuate"): Promise<void> {
  const body = action === "rebuild" ? { rebuild: { imageRef: ctx.rnd.pick(IMAGES) } } : { evacuate: {} };
  ctx.operation(`api-${action}`);
  const res = await apiCall(ctx, "POST", `/servers/${inst.uuid}/action`, "2.29", body);
  ctx.operation(`api-${action}-${res.status || "unreachable"}`);
  if (res.status === 0 || (res.status >= 500 && res.status !== 501))
    ctx.log(`  api ${action} ${inst.name}: ${res.status || res.text}`);
}

/** Starts the rebuild machine directly (as the CLI's execution path would); returns the execution ARN. */
async function startRebuild(ctx: RoundContext, inst: Instance, kind: "direct" | "evacuate"): Promise<string> {
  const requestId = randomUUID();
  const recreate = kind === "evacuate";
  ctx.operation(recreate ? "execution-evacuate" : "execution-rebuild");
  const out = await ctx.sfn.send(
    new StartExecutionCommand({
      stateMachineArn: ctx.cloud.rebuildStateMachineArn,
      name: requestId,
      input: JSON.stringify({
        requestId,
        instanceUuid: inst.uuid,
        recreate,
        ...(recreate ? {} : { imageRef: ctx.rnd.pick(IMAGES) }),
      }),
    }),
  );
  return out.executionArn!;
}
