/**
 * The local cloud from the terminal.
 *   demo  3 hosts, 6 instances on host-1; host-1 loses power; its peers report it (its heartbeat alarm fires
 *         later), the host-evacuation flow proves it dead and evacuates every instance (live progress); host-1
 *         returns and is cleaned.
 *         `--json`: the result as one JSON object on the last line (after the tear-down).
 *   up    start the local cloud, show its hosts and endpoints, keep running until Ctrl-C
 * Both serve the web console (its URL and users printed); the API then wants SigV4-signed requests.
 * Options: --verbose (-v) every step and host command logged (INFO; default WARN), --hosts N (up: the first N hosts),
 * --open (demo: open the console in a browser when one is available, and keep it up after the result until Ctrl-C),
 * --unsigned (up: the API also takes unsigned requests, as an operator's: what openstackclient's `--os-auth-type none` sends)
 */
import { spawn, spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import { PEER_SILENT_EVENT } from "#shared/domain/host-failure.js";
import type { Instance, PowerAnswer, PowerRecord } from "#shared/domain/schemas.js";
import { readEvacuationPreview } from "#shared/flow/evacuation-preview.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { domainStateProbe } from "#shared/hosts/probes.js";
import { describeHostPing } from "#shared/hosts/ssm-host-directory.js";
import { parseDomStateRaw } from "#shared/hosts/virsh-parsers.js";
import { LazarusClient } from "../cli/client.js";
import { type LocalCloud, startLocalCloud } from "./cloud.js";
import { DEMO_DOMAINS, DEMO_HOST_FAILURE, DEMO_HOSTS } from "./demo-fleet.js";
import { bootByAdoption } from "./fleet-domains.js";

const HOSTS = [
  { name: "host-a", sharedPoolId: "p1" },
  { name: "host-b", sharedPoolId: "p1" },
  { name: "host-c", sharedPoolId: "p1" },
  { name: "host-d" },
];

const { values: flags, positionals } = parseArgs({
  options: {
    verbose: { type: "boolean", short: "v" },
    hosts: { type: "string" },
    json: { type: "boolean" },
    open: { type: "boolean" },
    unsigned: { type: "boolean" },
  },
  allowPositionals: true,
});
// The Lambdas' log level (local/log-settings.ts); an explicit POWERTOOLS_LOG_LEVEL wins.
if (flags.verbose) process.env.POWERTOOLS_LOG_LEVEL ??= "INFO";

const t0 = Date.now();
function say(line: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`${s}s  ${line}\n`);
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows) process.stdout.write(`        ${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}\n`);
}

async function showHosts(cloud: LocalCloud): Promise<void> {
  const hosts = await cloud.stores.hosts.list();
  const ping = await describeHostPing(
    cloud.ssm,
    hosts.map((h) => h.managedInstanceId),
  );
  table([
    ["HOST", "SSM ID", "SSM PING", "POOL", "ENABLED", "FORCED DOWN", "USAGE vCPU/MiB"],
    ...hosts
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((h) => [
        h.name,
        h.managedInstanceId,
        ping[h.managedInstanceId] ?? "?",
        h.storage.sharedPoolId ?? "(local disk)",
        String(h.enabled),
        String(h.forcedDown),
        `${h.usage.vcpus}/${h.usage.memoryMiB}`,
      ]),
  ]);
}

async function hypervisorState(cloud: LocalCloud, inst: Instance): Promise<string> {
  const host = await cloud.stores.hosts.require(inst.host);
  const r = await cloud.executor.probe(hostTarget(host), domainStateProbe(inst.uuid));
  return r.exitCode === 0 && r.stdout.trim() !== "absent" ? parseDomStateRaw(r.stdout) : "absent";
}

const json = flags.json === true;

/** Every execution of a machine, oldest first, through the Step Functions API. */
async function executionsOf(sfn: SFNClient, stateMachineArn: string) {
  const out = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1000 }));
  return [...(out.executions ?? [])].reverse();
}

/** The name of the state an execution is in now (last entered), from its history. */
async function currentState(sfn: SFNClient, executionArn: string): Promise<string> {
  const h = await sfn.send(
    new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, reverseOrder: true }),
  );
  for (const e of h.events ?? [])
    if (e.type?.endsWith("StateEntered")) return e.stateEnteredEventDetails?.name ?? "?";
  return "starting";
}

/**
 * The mass-failure settle's verdict of a host-evacuation (AssessHeartbeat's output: waited or skipped, and
 * why), once its first assessment has run; undefined before.
 */
async function settleOf(
  sfn: SFNClient,
  executionArn: string,
): Promise<{ verdict: string; reason: string } | undefined> {
  const h = await sfn.send(
    new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, reverseOrder: true }),
  );
  // The latest assessment's verdict.
  for (const e of h.events ?? []) {
    const d = e.stateExitedEventDetails;
    if (e.type?.endsWith("StateExited") && d?.name === "AssessHeartbeat") {
      const out = JSON.parse(d.output ?? "{}") as { settle?: { verdict: string; reason: string } };
      if (out.settle) return out.settle;
    }
  }
  return undefined;
}

/** Domains defined on each live host: uuid -> [host, state]. */
async function hypervisors(cloud: LocalCloud, hosts: string[]) {
  const seen = new Map<string, { host: string; state: string }[]>();
  for (const name of hosts) {
    const h = cloud.fleet.hosts.get(name)!;
    if (!h.running) continue;
    const r = await h.virsh(["list", "--all", "--uuid"], { allowFail: true });
    for (const uuid of r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)) {
      const st = (await h.virsh(["domstate", uuid], { allowFail: true })).stdout.trim();
      seen.set(uuid, [...(seen.get(uuid) ?? []), { host: name, state: st }]);
    }
  }
  return seen;
}

/** The report's fence: which one, through which delegate, and its last answers. */
interface FenceSummary {
  method: string | null;
  delegate: string | null;
  outcome: string;
  answers: PowerAnswer[];
}

/**
 * What an operator does once a fenced host is repaired: power it on through its BMC (the API hands it to
 * the host-power function, a delegate runs fence_ipmilan); the record appears in the host's power log.
 */
async function powerOnThroughApi(cloud: LocalCloud, host: string): Promise<PowerRecord> {
  const { power } = (
    await operatorClient(cloud).call("POST", `/os-hosts/${host}/power`, { body: { power: { action: "on" } } })
  ).body as { power: { id: string } };
  const deadline = Date.now() + 120_000;
  for (;;) {
    const record = (await cloud.stores.hosts.require(host)).powerLog.find((r) => r.id === power.id);
    if (record) return record;
    if (Date.now() > deadline) throw new Error(`power on of ${host}: no answer within 120 s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The lazarus CLI's client, signing as the local operator tool key (the API wants SigV4 with the console). */
function operatorClient(cloud: LocalCloud): LazarusClient {
  const key = cloud.console!.toolKeys.operate;
  return new LazarusClient({
    url: cloud.api.url,
    sigv4: true,
    region: "us-east-1",
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
  });
}

/** The console's URL and users, and the keys tools sign API requests with (the lazarus CLI's `--sigv4`). */
function showConsole(cloud: LocalCloud): void {
  const c = cloud.console!;
  say(`web console: ${c.url}`);
  for (const u of c.users)
    say(`  sign in as ${u.username} / ${u.password} (${u.role === "operate" ? "operator" : "read-only"})`);
  for (const [role, key] of Object.entries(c.toolKeys))
    say(
      `  ${role === "operate" ? "operator" : "read-only"} API key (SigV4, region us-east-1): AWS_ACCESS_KEY_ID=${key.accessKeyId} AWS_SECRET_ACCESS_KEY=${key.secretAccessKey}`,
    );
}

/**
 * `--open`: the console in the desktop's browser when there is one (a display and xdg-open); otherwise the
 * URL printed above is all there is. Never required.
 */
function openConsole(url: string): void {
  const display = process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
  const opener = spawnSync("sh", ["-c", "command -v xdg-open"], { encoding: "utf8" }).stdout.trim();
  if (!display || !opener) {
    say(`no browser to open here (no display or xdg-open): open ${url} yourself`);
    return;
  }
  spawn(opener, [url], { detached: true, stdio: "ignore" }).unref();
  say(`opened ${url} in the desktop's browser`);
}

/** Until Ctrl-C (SIGINT) or SIGTERM. */
function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

async function demo(): Promise<number> {
  say(
    "starting the local cloud: 3 KVM hosts (libvirtd + qemu, SSM agent, heartbeat each), DynamoDB, Step Functions, Lambda, EventBridge, CloudWatch",
  );
  const cloud = await startLocalCloud({
    hosts: DEMO_HOSTS,
    retryIntervalScale: 0.1,
    hostCommandDeadlineMs: 30_000,
    hostFailure: DEMO_HOST_FAILURE,
    // Each host's agent watches the others over UDP and reports one it stops hearing (host-agent/peers.ts).
    peers: true,
    console: true,
  });
  const sfn = new SFNClient({});
  const evacArn = cloud.stateMachineArns["host-evacuation"]!;
  const recoveryArn = cloud.stateMachineArns["host-recovery"]!;
  let result: Record<string, number> = {};
  let ok = false;
  try {
    await showHosts(cloud);
    showConsole(cloud);
    if (flags.open) openConsole(cloud.console!.url);
    say(
      "defining 6 domains on host-1 and app-b on host-2 by hand with virsh (as a fleet has them) and adopting them; " +
        "then HA priorities and anti-affinity group g1 (app-a, app-b: facts libvirt does not hold) set on the records; disks on shared pool p1",
    );
    const instances = await bootByAdoption(cloud, DEMO_DOMAINS);
    const peer = instances.pop()!;
    table([
      ["INSTANCE", "HOST", "VM STATE", "HA PRIO", "GROUP", "VOLUMES", "ON HYPERVISOR"],
      ...(await Promise.all(
        [...instances, peer].map(async (i) => [
          i.name,
          i.host,
          i.vmState,
          String(i.haPriority),
          i.serverGroup ? `${i.serverGroup.id} (anti-affinity)` : "-",
          String(i.volumes.length),
          await hypervisorState(cloud, i),
        ]),
      )),
    ]);

    // The evacuation plan as the scheduler sees the fleet now (read-only, GET /os-hosts/host-1/evacuation-plan).
    const plan = await readEvacuationPreview(cloud.stores, "host-1", {
      policy: "all",
      now: new Date(),
      serviceDownSeconds: 10,
    });
    const planned = new Map(plan.placements.map((p) => [p.instanceUuid, p.target]));
    say("evacuation plan for host-1 if it died now (same scheduler code as the flow)");
    table([
      ["INSTANCE", "HA PRIO", "WOULD GO TO"],
      ...plan.placements.map((p) => [p.name, String(p.haPriority), p.target]),
      ...plan.unplaced.map((u) => [u.name, "-", `NO ROOM: ${u.reason}`]),
    ]);
    say(
      "host-1 loses power: its heartbeat publisher, SSM agent, libvirtd and qemu processes are killed (by pid)",
    );
    const killedAt = Date.now();
    await cloud.killHost("host-1");
    const since = (t: number) => ((t - killedAt) / 1000).toFixed(1);

    // Live progress: the alarm, the host-evacuation execution, and each instance's child rebuild execution.
    let alarmAt: number | undefined;
    let reportedAt: number | undefined;
    let disabledAt: number | undefined;
    let evacuation: { arn: string; status: string } | undefined;
    const lines = new Map<string, string>();
    /** Prints `line` when what `key` shows changed (`value`, default the line itself). */
    const show = (key: string, line: string, value = line) => {
      if (lines.get(key) === value) return;
      lines.set(key, value);
      say(line);
    };
    const byRequest = new Map<string, Instance>();
    for (;;) {
      const alarm = cloud.cloudwatch.evaluator.get(heartbeatAlarmName("host-1"));
      if (alarm?.state === "ALARM" && alarmAt === undefined) alarmAt = Date.now();
      // One line per alarm state change, with when it changed (not one per poll).
      show(
        "alarm",
        `alarm ${heartbeatAlarmName("host-1")}: ${alarm?.state ?? "?"} (t+${since(Date.now())}s since the power loss)`,
        alarm?.state ?? "?",
      );
      // The peers' reports, one line each (the first opens the incident; the others are duplicates).
      for (const e of cloud.events.events.filter(
        (e) => e.detailType === PEER_SILENT_EVENT.detailType && e.time.getTime() >= killedAt,
      )) {
        const d = e.detailObject as { host?: string; observer?: string; silentSeconds?: number };
        if (d.host !== "host-1") continue;
        reportedAt ??= e.receivedAt.getTime();
        show(
          `peer-${d.observer}`,
          `peer report: ${d.observer} has not heard host-1 for ${d.silentSeconds} s (t+${since(e.receivedAt.getTime())}s)`,
        );
      }
      // The execution that owns host-1's incident (another peer's report and the later alarm are duplicates).
      const owner = (await cloud.stores.hosts.get("host-1"))?.incident?.executionName;
      const evs = await executionsOf(sfn, evacArn);
      const main = evs.find((e) => e.name === owner && e.startDate!.getTime() >= killedAt);
      if (main) {
        const state = main.status === "RUNNING" ? await currentState(sfn, main.executionArn!) : main.status!;
        show("evac", `host-evacuation ${main.name}: ${state}`);
        // Whether it waits for other hosts' alarms before the mass-failure guard, and why (each change:
        // a peer's incident is assessed again as the fleet's heartbeats can tell more).
        if (lines.get("settle")?.startsWith("skip") !== true && main.status === "RUNNING") {
          const settle = await settleOf(sfn, main.executionArn!);
          if (settle)
            show("settle", `mass-failure settle: ${settle.verdict} (${settle.reason})`, settle.verdict);
        }
        if (
          disabledAt === undefined &&
          ["PlanEvacuation", "EvacuateByPriority", "EvacuateTier", "EvacuateInstance"].includes(state)
        )
          disabledAt = Date.now();
        if (main.status !== "RUNNING") {
          if (disabledAt === undefined) disabledAt = Date.now();
          evacuation = { arn: main.executionArn!, status: main.status! };
        }
      }
      for (const e of await executionsOf(sfn, cloud.rebuildStateMachineArn)) {
        let inst = byRequest.get(e.name!);
        if (!inst) {
          const d = await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn! }));
          const uuid = (JSON.parse(d.input ?? "{}") as { instanceUuid?: string }).instanceUuid;
          inst = instances.find((i) => i.uuid === uuid);
          if (!inst) continue;
          byRequest.set(e.name!, inst);
        }
        const state = e.status === "RUNNING" ? await currentState(sfn, e.executionArn!) : e.status!;
        show(`child-${e.name}`, `  ${inst.name.padEnd(8)} (prio ${inst.haPriority}) ${state}`);
      }
      if (evacuation) break;
      if (Date.now() - killedAt > 150_000) throw new Error("the evacuation did not end within 150 s");
      await new Promise((r) => setTimeout(r, 300));
    }
    const evacuatedAt = Date.now();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: evacuation.arn }));
    const report = (
      described.output ? JSON.parse(described.output) : { report: JSON.parse(described.cause ?? "{}") }
    ) as {
      report?: {
        evacuated: { instanceUuid: string; proof?: string }[];
        failed: unknown[];
        skipped: unknown[];
      };
    };
    // The proof of host-1's death each instance's restart relied on (issue 16): power, lease or lock.
    const proofOf = new Map((report.report?.evacuated ?? []).map((e) => [e.instanceUuid, e.proof ?? "-"]));

    const fence = (report.report as { fence?: FenceSummary } | undefined)?.fence;
    if (fence)
      say(
        `fence: ${fence.method} through delegate ${fence.delegate ?? "-"}: ${fence.outcome} (${fence.answers
          .map((a) => `${a.step} ${a.answer}`)
          .join(", ")})`,
      );
    say("result");
    const live = ["host-2", "host-3"];
    const domains = await hypervisors(cloud, live);
    const rows = [
      [
        "INSTANCE",
        "HA PRIO",
        "FROM",
        "PLANNED",
        "TO",
        "PROOF",
        "VM STATE",
        "ON HYPERVISOR",
        "LAUNCHED (t+s)",
      ],
    ];
    let lost = 0;
    let doubleRuns = 0;
    for (const before of instances) {
      const now = await cloud.stores.instances.require(before.uuid);
      const where = domains.get(now.uuid) ?? [];
      const running = where.filter((w) => w.state === "running");
      if (running.length > 1) doubleRuns++;
      const expected = before.vmState === "stopped" ? "shut off" : "running";
      if (!live.includes(now.host) || where.find((w) => w.host === now.host)?.state !== expected) lost++;
      rows.push([
        now.name,
        String(now.haPriority),
        before.host,
        planned.get(now.uuid) ?? "no room",
        now.host,
        proofOf.get(now.uuid) ?? "-",
        now.vmState,
        where.map((w) => `${w.host}:${w.state}`).join(",") || "absent",
        now.launchedAt ? since(Date.parse(now.launchedAt)) : "-",
      ]);
    }
    table(rows);
    const perInstance = new Map<string, number>();
    for (const inst of byRequest.values()) perInstance.set(inst.uuid, (perInstance.get(inst.uuid) ?? 0) + 1);
    doubleRuns += [...perInstance.values()].filter((n) => n > 1).length;
    // The bench's meanings (bench/RESULTS.md): detect = power loss -> death proven and the host fenced;
    // recover = detection -> every instance confirmed running elsewhere; their sum from the power loss.
    const detectedAt = disabledAt ?? evacuatedAt;
    const detectSeconds = Number(since(detectedAt));
    const recoverSeconds = Number(((evacuatedAt - detectedAt) / 1000).toFixed(1));
    const deathToAllRunningSeconds = Number(since(evacuatedAt));
    say(
      `peers' report after ${reportedAt ? since(reportedAt) : "?"} s, alarm after ${alarmAt ? since(alarmAt) : "?"} s; death confirmed (heartbeat stale past grace, SSM probe failed, host powered off by the fence) after ${detectSeconds} s; every instance confirmed ${recoverSeconds} s later, ${deathToAllRunningSeconds} s after the power loss (${described.status})`,
    );
    await showHosts(cloud);

    say(
      "the operator powers host-1 on through its BMC (lazarus host power host-1 on: a peer's fence_ipmilan); libvirtd, agent, heartbeat come back; its domains are defined, shut off, autostart off",
    );
    const on = await powerOnThroughApi(cloud, "host-1");
    say(
      `power on: ${on.outcome} through ${on.delegate ?? on.method}: ${on.answers.at(-1)?.answer ?? on.detail}`,
    );
    const returnedAt = Date.now();
    let recovery: { arn: string; status: string } | undefined;
    for (;;) {
      const rec = (await executionsOf(sfn, recoveryArn))[0];
      if (rec) {
        const state = rec.status === "RUNNING" ? await currentState(sfn, rec.executionArn!) : rec.status!;
        show("rec", `host-recovery ${rec.name}: ${state}`);
        if (rec.status !== "RUNNING") {
          recovery = { arn: rec.executionArn!, status: rec.status! };
          break;
        }
      }
      if (Date.now() - returnedAt > 90_000) throw new Error("host-1's clean-up did not end within 90 s");
      await new Promise((r) => setTimeout(r, 300));
    }
    const onHost1 = await hypervisors(cloud, ["host-1"]);
    let staleDomainsAfterReturn = 0;
    for (const uuid of onHost1.keys()) {
      const rec = await cloud.stores.instances.get(uuid);
      if (rec && rec.host !== "host-1") staleDomainsAfterReturn++;
    }
    say(
      `host-recovery ${recovery.status}: host-1 now defines ${onHost1.size} domain(s), ${staleDomainsAfterReturn} stale`,
    );
    await showHosts(cloud);
    const h1 = await cloud.stores.hosts.require("host-1");
    say(
      `host-1: enabled=${h1.enabled} (an operator enables it), incident ${h1.incident?.id} ${h1.incident?.status}`,
    );

    result = {
      evacuated: report.report?.evacuated.length ?? 0,
      failed: report.report?.failed.length ?? 0,
      skipped: report.report?.skipped.length ?? 0,
      detectSeconds,
      recoverSeconds,
      deathToAllRunningSeconds,
      doubleRuns,
      staleDomainsAfterReturn,
    };
    ok = lost === 0 && doubleRuns === 0 && staleDomainsAfterReturn === 0 && result.failed === 0;
    say(
      ok
        ? "every instance of host-1 runs elsewhere, once; host-1 came back clean"
        : `problems: ${lost} lost, ${doubleRuns} double runs, ${staleDomainsAfterReturn} stale`,
    );
    if (flags.open) {
      say(`the console stays up at ${cloud.console!.url}: Ctrl-C ends the demo`);
      await untilInterrupted();
    }
  } finally {
    say("tearing down the local cloud");
    await cloud.stop();
  }
  // The README's promise: with --json, the result is the last line, after the tear-down.
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  return ok ? 0 : 1;
}

/**
 * `kill PID` of a backgrounded `npm run local -- up` signals npm alone: npm ends (and the `sh -c` it ran the
 * script in), and this process, orphaned, would keep the whole cloud running. So `up` watches its parent:
 * once it is gone (this process was handed to another, `process.ppid` changed) it tears down as on
 * SIGTERM, through the same handler (local/hosts/fleet.ts). A Ctrl-C reaches the whole group as before.
 */
function stopWhenOrphaned(intervalMs = 500): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    say(`the process that started this one (${parent}) ended: stopping as on SIGTERM`);
    process.kill(process.pid, "SIGTERM");
  }, intervalMs);
  timer.unref();
}

async function up(): Promise<number> {
  stopWhenOrphaned();
  say("starting the local cloud");
  const count = flags.hosts === undefined ? HOSTS.length : Number(flags.hosts);
  if (!Number.isInteger(count) || count < 1 || count > HOSTS.length)
    throw new Error(`--hosts takes 1 to ${HOSTS.length}`);
  const cloud = await startLocalCloud({
    hosts: HOSTS.slice(0, count),
    hostFailure: {},
    peers: true,
    schedules: true,
    console: { unsignedAsOperator: flags.unsigned === true },
  });
  await showHosts(cloud);
  for (const [k, v] of Object.entries(cloud.env))
    if (k.startsWith("AWS_ENDPOINT_URL") || k.startsWith("LAZARUS")) say(`${k}=${v}`);
  say(`AWS_ENDPOINT_URL_SECRETSMANAGER=${cloud.secrets.url} (the BMC passwords, secrets lazarus/bmc/<host>)`);
  for (const name of cloud.fleet.hosts.keys()) {
    const bmc = cloud.bmcs.bmc(name);
    say(
      `BMC of ${name}: IPMI at ${bmc.address}:${bmc.port}, user ${bmc.username} (lazarus host power ${name} status; ipmitool -I lanplus -C 3 -H ${bmc.address} -p ${bmc.port} -U ${bmc.username} -E chassis power status, IPMI_PASSWORD from the secret)`,
    );
  }
  showConsole(cloud);
  for (const line of usageLines(cloud)) say(line);
  say("running; Ctrl-C (or kill PID) stops it and removes every host process, user and folder");
  await new Promise<void>((resolve) => process.once("SIGINT", resolve));
  await cloud.stop();
  return 0;
}

/** How to use what `up` started: a server created through the API, and the AWS CLI against the endpoints. */
function usageLines(cloud: LocalCloud): string[] {
  const api = cloud.env.LAZARUS_API_URL!;
  const os = `openstack --os-auth-type none --os-endpoint ${api}/v2.1 --os-compute-api-version 2.95`;
  const key = cloud.console!.toolKeys.operate;
  const signed = `AWS_ACCESS_KEY_ID=${key.accessKeyId} AWS_SECRET_ACCESS_KEY=${key.secretAccessKey} AWS_REGION=us-east-1`;
  const servers = flags.unsigned
    ? [
        "create a server (openstackclient), then list it with the lazarus CLI:",
        `  ${os} server create --flavor m1.nano --image cirros-0.6 --nic auto --wait web-1`,
        `  LAZARUS_API_URL=${api} npm run --silent lazarus -- servers`,
      ]
    : [
        "the API wants SigV4, as in AWS (openstackclient cannot sign: `up --unsigned` takes unsigned requests as an operator's); with the lazarus CLI:",
        `  ${signed} LAZARUS_API_URL=${api} npm run --silent lazarus -- --sigv4 servers`,
      ];
  return [
    ...servers,
    "the AWS CLI against the local endpoints (these credentials; the CLI needs --endpoint-url):",
    `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url ${cloud.env.AWS_ENDPOINT_URL_CLOUDWATCH} cloudwatch describe-alarms`,
  ];
}

const commands: Record<string, () => Promise<number>> = { demo, up };
const command = commands[positionals[0] ?? "demo"];
if (!command) {
  process.stderr.write(`usage: local/cli.ts demo|up [--verbose] [--hosts N]\n`);
  process.exit(2);
}
command().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
