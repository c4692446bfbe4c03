/**
 * The local cloud from the terminal.
 *   demo  hosts up, instances booted on host-a, host-a loses power, each instance evacuated (live progress)
 *   up    start the local cloud, show its hosts and endpoints, keep running until Ctrl-C
 * Options: --verbose (-v) every step and host command logged (INFO; default WARN), --hosts N (up: the first N hosts)
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { Instance } from "#shared/domain/schemas.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { describeHostPing } from "#shared/hosts/ssm-executor.js";
import { domState } from "#shared/hosts/virsh.js";
import { parseDomStateRaw } from "#shared/hosts/virsh-parsers.js";
import { type LocalCloud, startLocalCloud } from "./cloud.js";

const HOSTS = [
  { name: "host-a", sharedPoolId: "p1" },
  { name: "host-b", sharedPoolId: "p1" },
  { name: "host-c", sharedPoolId: "p1" },
  { name: "host-d" },
];

const { values: flags, positionals } = parseArgs({
  options: { verbose: { type: "boolean", short: "v" }, hosts: { type: "string" } },
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
  const r = await cloud.executor.probe(hostTarget(host), domState(inst.uuid));
  return r.exitCode === 0 ? parseDomStateRaw(r.stdout) : "absent";
}

/** Follows one execution's history through the Step Functions API and prints each state as it starts. */
async function follow(
  sfn: SFNClient,
  executionArn: string,
  label: string,
): Promise<{ status: string; error?: string }> {
  let seen = 0;
  for (;;) {
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const events = history.events ?? [];
    for (const e of events.slice(seen)) {
      if (e.type?.endsWith("StateEntered")) say(`${label.padEnd(10)} ▶ ${e.stateEnteredEventDetails?.name}`);
      if (e.type === "TaskFailed") say(`${label.padEnd(10)} ✗ ${e.taskFailedEventDetails?.error}`);
    }
    seen = events.length;
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (d.status !== "RUNNING") return { status: d.status ?? "?", ...(d.error ? { error: d.error } : {}) };
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function demo(): Promise<number> {
  say(
    "starting the local cloud: 4 KVM hosts (libvirtd + qemu each, SSM agents), DynamoDB, Step Functions, Lambda",
  );
  const cloud = await startLocalCloud({ hosts: HOSTS, retryIntervalScale: 0.1 });
  try {
    await showHosts(cloud);

    say("booting instances on host-a (disks on shared pool p1)");
    const instances = [
      await cloud.boot({
        name: "web-1",
        host: "host-a",
        ports: 2,
        volumes: [{ name: "db", sizeGiB: 1, device: "vdb" }],
      }),
      await cloud.boot({ name: "web-2", host: "host-a" }),
      await cloud.boot({ name: "batch-1", host: "host-a", stopped: true }),
    ];
    table([
      ["INSTANCE", "UUID", "HOST", "VM STATE", "ON HYPERVISOR"],
      ...(await Promise.all(
        instances.map(async (i) => [i.name, i.uuid, i.host, i.vmState, await hypervisorState(cloud, i)]),
      )),
    ]);

    say("host-a loses power: its agent, libvirtd and qemu processes are killed");
    await cloud.killHost("host-a");
    const hostA = await cloud.stores.hosts.require("host-a");
    for (;;) {
      const ping = await describeHostPing(cloud.ssm, [hostA.managedInstanceId]);
      if (ping[hostA.managedInstanceId] === "ConnectionLost") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    say("SSM reports host-a ConnectionLost; the operator forces its compute service down");
    await cloud.setForcedDown("host-a", true);
    await showHosts(cloud);

    say("evacuating every instance of host-a (one rebuild execution each, recreate=true)");
    const sfn = new SFNClient({});
    const runs = await Promise.all(
      instances.map(async (inst) => {
        const requestId = randomUUID();
        const started = await sfn.send(
          new StartExecutionCommand({
            stateMachineArn: cloud.rebuildStateMachineArn,
            name: requestId,
            input: JSON.stringify({ requestId, instanceUuid: inst.uuid, recreate: true }),
          }),
        );
        return { inst, ...(await follow(sfn, started.executionArn!, inst.name)) };
      }),
    );

    say("result");
    const rows = [["INSTANCE", "FROM", "TO", "VM STATE", "TASK", "ON HYPERVISOR", "EXECUTION"]];
    for (const run of runs) {
      const now = await cloud.stores.instances.require(run.inst.uuid);
      rows.push([
        now.name,
        run.inst.host,
        now.host,
        now.vmState,
        String(now.taskState),
        await hypervisorState(cloud, now),
        run.error ? `${run.status} ${run.error}` : run.status,
      ]);
    }
    table(rows);
    await showHosts(cloud);
    const notifications = cloud.events.events.map((e) => e.detailType);
    say(`notifications published: ${notifications.length} (${[...new Set(notifications)].join(", ")})`);
    const ok = runs.every((r) => r.status === "SUCCEEDED");
    say(ok ? "every instance of host-a runs elsewhere" : "some evacuations failed: see the table above");
    return ok ? 0 : 1;
  } finally {
    say("tearing down the local cloud");
    await cloud.stop();
  }
}

async function up(): Promise<number> {
  say("starting the local cloud");
  const count = flags.hosts === undefined ? HOSTS.length : Number(flags.hosts);
  if (!Number.isInteger(count) || count < 1 || count > HOSTS.length)
    throw new Error(`--hosts takes 1 to ${HOSTS.length}`);
  const cloud = await startLocalCloud({ hosts: HOSTS.slice(0, count) });
  await showHosts(cloud);
  for (const [k, v] of Object.entries(cloud.env))
    if (k.startsWith("AWS_ENDPOINT_URL") || k.startsWith("LAZARUS")) say(`${k}=${v}`);
  say("running; Ctrl-C stops it and removes every host process, user and folder");
  await new Promise<void>((resolve) => process.once("SIGINT", resolve));
  await cloud.stop();
  return 0;
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
