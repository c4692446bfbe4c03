/**
 * Between two chaos rounds: the system brought back to quiet (every machine on and its host's processes
 * running, every heartbeat alarm OK, every execution ended, the sweeper run), then, once the round's
 * findings are recorded, what an operator does after an incident: hosts whose incident is over enabled again,
 * instances left in ERROR reset to ACTIVE and started where their domain is. Waits are for events, bounded by
 * the settings' settle timeout; a system that does not get quiet in time is a `stuck` violation.
 */

import { CLEAN_TARGET_ACTION } from "#functions/api/routes/clean-target.js";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import type { Instance } from "#shared/domain/schemas.js";
import type { LocalCloud } from "../cloud.js";
import { apiCall } from "./disruptions.js";
import { machineOf, type RoundContext, sleep } from "./round.js";

/** Every machine on, and on each host what a booted host runs (libvirtd, SSM agent, lazarus-host). */
export async function restoreHosts(ctx: RoundContext): Promise<void> {
  const { cloud } = ctx;
  await Promise.all(
    [...cloud.fleet.hosts.values()].map(async (h) => {
      const m = machineOf(cloud, h.name);
      if (m.state !== "on" || !h.running) {
        ctx.log(`  ${h.name} ${m.state === "booting" ? "is booting" : "returns"}`);
        // Joins a boot under way (a watchdog reset's), else boots the machine.
        await m.powerOn("cloud");
        ctx.operation("host-restart");
      }
      if (h.running && !h.agentRunning) await h.startAgent();
      h.startHeartbeat();
      h.startInstanceMonitor();
    }),
  );
}

export function runningExecutions(cloud: LocalCloud): string[] {
  const out: string[] = [];
  for (const [machine, arn] of Object.entries(cloud.stateMachineArns)) {
    for (const e of cloud.stepFunctions.listExecutions({ stateMachineArn: arn, statusFilter: "RUNNING" })
      .executions ?? []) {
      out.push(`${e.name} (${machine})`);
    }
  }
  return out;
}

/**
 * Whether the event of the heartbeat alarm's last state change has reached every rule target it matched
 * (EventBridge's deliveries made): an alarm back to OK starts host-recovery only once its event is
 * delivered, which may be a while after the alarm's state changed on a loaded machine. A change no rule
 * matches (INSUFFICIENT_DATA -> OK of a new alarm: the OK rule wants a previous ALARM) owes no delivery.
 */
function lastAlarmChangeDelivered(cloud: LocalCloud, host: string): boolean {
  const name = heartbeatAlarmName(host);
  const alarm = cloud.cloudwatch.evaluator.get(name);
  if (!alarm || alarm.updatedAt <= alarm.createdAt) return true;
  // CloudWatch's timestamp format in the event (alarm-evaluator.ts).
  const at = new Date(alarm.updatedAt).toISOString().replace("Z", "+0000");
  const event = cloud.events.events.find((e) => {
    const d = e.detailObject as { alarmName?: string; state?: { timestamp?: string } };
    return e.source === "aws.cloudwatch" && d.alarmName === name && d.state?.timestamp === at;
  });
  if (event === undefined) return false; // CloudWatch has not put it yet
  const made = cloud.events.deliveries.filter((d) => d.eventId === event.eventId).length;
  return made >= event.targetsMatched;
}

/**
 * Waits until quiet: every heartbeat alarm OK and its last change delivered to its trigger (its OK starts
 * host-recovery), the Lambda endpoint idle (what a delivered event started has started), and no execution
 * running, at two looks 1 s apart. Returns what still ran when the bound passed, or null once quiet.
 */
export async function waitQuiet(ctx: RoundContext, timeoutMs: number): Promise<string[] | null> {
  const { cloud } = ctx;
  const deadline = Date.now() + timeoutMs;
  let quietSince: number | null = null;
  for (;;) {
    const hosts = [...cloud.fleet.hosts.keys()];
    const alarms = hosts
      .filter((h) => cloud.cloudwatch.evaluator.get(heartbeatAlarmName(h))?.state === "ALARM")
      .map((h) => `${h}'s heartbeat alarm in ALARM`);
    const undelivered = hosts
      .filter((h) => !lastAlarmChangeDelivered(cloud, h))
      .map((h) => `${h}'s alarm change not delivered yet`);
    const pending = [...alarms, ...undelivered];
    if (pending.length === 0) await cloud.lambda.idle();
    const running = runningExecutions(cloud);
    if (pending.length === 0 && running.length === 0) {
      if (quietSince !== null && Date.now() - quietSince >= 1000) return null;
      quietSince ??= Date.now();
    } else quietSince = null;
    if (Date.now() > deadline) return [...running, ...pending];
    await sleep(250);
  }
}

/**
 * The operator's part after a round: a host whose incident is over comes back into service (enabled, no
 * longer forced down); an instance left in ERROR whose domain is defined on its up host is reset to ACTIVE and
 * started there (nova's `reset-state --active` and `start`); an ACTIVE instance whose domain is shut off on
 * its up host (nothing restarted it: a storm hand-over, a host reset nobody answered) is started by hand and
 * named in the round's story. So later rounds have guests to disrupt. An instance in ERROR with
 * `TargetNotClean` is first cleaned as its fault says: the domain destroyed and undefined by hand on the host
 * the fault names, and, once that host no longer has it, the claim the failed flow kept there released (what
 * an operator does in placement); while that host is down the instance stays in ERROR.
 */
export async function operatorRepairs(ctx: RoundContext): Promise<void> {
  const { cloud } = ctx;
  for (const h of await cloud.stores.hosts.list()) {
    const open = h.incident?.status === "confirming" || h.incident?.status === "evacuating";
    if (!open && (!h.enabled || h.forcedDown) && cloud.fleet.hosts.get(h.name)?.running) {
      await cloud.stores.hosts.setService(h.name, { enabled: true, disabledReason: null, deathProof: null });
      ctx.operation("host-enable");
    }
  }
  for (const i of await cloud.stores.instances.list()) {
    if ((i.vmState !== "error" && i.vmState !== "active") || i.taskState !== null) continue;
    const host = cloud.fleet.hosts.get(i.host);
    if (!host?.running) continue;
    const state = await host.virsh(["domstate", i.uuid], { allowFail: true });
    if (state.exitCode !== 0) continue; // not defined there: an ERROR one stays so, with its fault
    const running = /running/.test(state.stdout);
    if (i.vmState === "active" && running) continue;
    if (i.vmState === "error" && !(await cleanUncleanTarget(ctx, i))) continue;
    if (!running) await host.virsh(["start", i.uuid], { allowFail: true });
    if (i.vmState === "error") {
      // Read again: ending an unclean target through the API wrote the record (its version moved on).
      const now = await cloud.stores.instances.require(i.uuid);
      if (now.vmState !== "error" || now.host !== i.host || now.taskState !== null) continue;
      await cloud.stores.instances.update(i.uuid, {
        expectTaskState: [null],
        expectVersion: now.version,
        set: { vmState: "active", fault: null, fencingRequired: null, powerState: "running" },
      });
      ctx.operation("operator-reset-state");
      ctx.log(
        `  operator: ${i.name} reset from ERROR to ACTIVE on ${i.host}${running ? "" : " and started"}`,
      );
    } else {
      const latest = (await cloud.stores.recoveries.listByInstance(i.uuid)).sort((a, b) =>
        b.detectedAt.localeCompare(a.detectedAt),
      )[0];
      ctx.operation("operator-start-left-stopped");
      ctx.log(
        `  operator: ${i.name} is ACTIVE but was left shut off on ${i.host} (last recovery: ${latest ? `${latest.status}, ${latest.reason}` : "none"}): started by hand`,
      );
    }
  }
}

/**
 * The operator's clean-up of a `TargetNotClean` instance's unclean host (its fault's `uncleanHost`), as the
 * fault tells: destroy and undefine the domain there by hand, then ask the API to end that target
 * (`lazarus:cleanTarget`: Lazarus checks the host holds nothing of it and releases the claim the failed flow
 * kept). True when there is nothing (left) to clean; false while that host cannot be cleaned.
 */
async function cleanUncleanTarget(ctx: RoundContext, i: Instance): Promise<boolean> {
  const unclean = i.fault?.error === "TargetNotClean" ? String(i.fault.details.uncleanHost ?? "") : "";
  if (!unclean || unclean === i.host) return true;
  const { cloud } = ctx;
  const host = cloud.fleet.hosts.get(unclean);
  if (!host?.running) return false;
  await host.virsh(["destroy", i.uuid], { allowFail: true });
  await host.virsh(["undefine", i.uuid], { allowFail: true });
  if ((await host.virsh(["domstate", i.uuid], { allowFail: true })).exitCode === 0) return false;
  if (i.uncleanTargets.some((t) => t.host === unclean)) {
    const res = await apiCall(ctx, "POST", `/servers/${i.uuid}/action`, "2.95", {
      [CLEAN_TARGET_ACTION]: { host: unclean },
    });
    ctx.operation(`operator-clean-target-${res.status}`);
    if (res.status !== 200) {
      ctx.log(`  operator: cleaning ${i.name}'s target ${unclean} was refused (${res.status}: ${res.text})`);
      return false;
    }
  }
  ctx.operation("operator-clean-unclean-target");
  ctx.log(
    `  operator: ${i.name}'s copy on ${unclean} destroyed and undefined by hand, the target ended through the API (its claim released)`,
  );
  return true;
}
