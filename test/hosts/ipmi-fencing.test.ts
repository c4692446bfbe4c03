/**
 * Issue 28 on real hosts: every host has its own IPMI BMC (OpenIPMI's ipmi_sim on loopback, its chassis
 * power the host's power), and a dead host is fenced by the real `fence_ipmilan` run by a peer (the
 * delegate) through SSM, the BMC password read by the delegate itself from the local Secrets Manager.
 * One fleet (host-1, host-2, host-3, local disks), in order:
 *  2/3. An agent-only failure of host-1 (agent and heartbeat stopped, web-1 still running): the fence
 *       fails for a wrong BMC password, then for a BMC that does not answer (its simulator stopped by pid),
 *       then its first delegate (host-2) cannot run it (its agent is dead): each round ends with web-1
 *       "fencing required", running on host-1 only; the next delegate (host-3) then powers host-1 off and
 *       the same evacuation brings web-1 back elsewhere, proof `power`, the report naming the delegate.
 *  4.   The operator powers host-1 back on with `lazarus host power` (status, on): it comes back with
 *       nothing started, host-recovery removes the evacuated copy and keeps a domain it does not manage;
 *       bad input and an enabled host's off are refused with no change.
 *  1.   The host running web-1 loses power by hand: its incident fences it through a peer, whose BMC
 *       answer is "off"; web-1 comes back elsewhere with proof `power`.
 *  5.   No BMC password in any process's command line (sampled all along, fence agents running), any
 *       execution's history, log line, DynamoDB item, SSM command or host log.
 * At no sample does web-1 run on two hosts or in two qemu processes.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { ListCommandInvocationsCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, localBmcSecretName, startLocalCloud } from "#local/cloud.js";
import { defineByHand } from "#local/fleet-domains.js";
import type { Instance, PowerRecord } from "#shared/domain/schemas.js";
import { createDynamoClient } from "#shared/store/client.js";
import { tableNamesFromEnv } from "#shared/store/tables.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { sfnClient, waitFlow } from "../support/flows.js";
import {
  bootAdopted,
  domState,
  executionFor,
  expectInvariants,
  FAST_FENCING,
  HOST_FAILURE_WAIT_MS,
  runningOn,
  until,
} from "../support/hosts.js";
import { type ProcWatch, watchProcesses } from "../support/proc-sampler.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** A password host-1's BMC does not take. */
const WRONG_PASSWORD = "Wr0ng-BMC-pa55";

let cloud: LocalCloud;
let sfn: SFNClient;
let web: Instance;
let procs: ProcWatch;
/** Every BMC password this run used (the wrong one too). */
const passwords = new Set<string>([WRONG_PASSWORD]);
/** What the process (the Lambdas' log lines included) printed while the fleet ran. */
let printed = "";
const restore: (() => void)[] = [];

/** Runs the real `lazarus` CLI against the local API. */
function lazarus(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      `${ROOT}cli/bin/lazarus`,
      args,
      { cwd: ROOT, timeout: 240_000, env: { ...process.env, LAZARUS_API_URL: cloud.api.url } },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const powerLog = async (host: string): Promise<PowerRecord[]> =>
  (await cloud.stores.hosts.require(host)).powerLog;

/** The first fence record of `host` after `after` (by count) that `matches`, once there is one. */
async function fenceRecord(host: string, after: number, what: string, matches: (r: PowerRecord) => boolean) {
  return until(
    what,
    async () => (await powerLog(host)).slice(after).find((r) => r.action === "fence" && matches(r)),
    HOST_FAILURE_WAIT_MS,
  );
}

const answered = (r: PowerRecord, re: RegExp) => r.answers.some((a) => re.test(a.answer));

beforeAll(async () => {
  // Every host command's log line is printed (INFO), and captured with everything else printed.
  const level = process.env.POWERTOOLS_LOG_LEVEL;
  process.env.POWERTOOLS_LOG_LEVEL = "INFO";
  restore.push(() => {
    if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
    else process.env.POWERTOOLS_LOG_LEVEL = level;
  });
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      printed += String(chunk);
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = write;
    });
  }
  cloud = await startLocalCloud({
    hosts: ["host-1", "host-2", "host-3"].map((name) => ({ name })),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: FAST_FENCING,
  });
  sfn = sfnClient();
  for (const h of cloud.fleet.hosts.keys()) passwords.add(cloud.bmcs.bmc(h).password);
  ({ web } = await bootAdopted(cloud, { web: { name: "web-1", host: "host-1", nics: 1 } }));
  // A domain Lazarus does not manage (never adopted): host-recovery must leave it.
  await defineByHand(cloud, { name: "scratch-1", host: "host-1", stopped: true, autostart: false });
  procs = watchProcesses({
    secrets: () => [...passwords],
    uuids: () => [web.uuid],
    watchFor: /fence_ipmilan|ipmitool/,
  });
}, 600_000);

afterAll(async () => {
  await procs?.stop();
  await cloud?.stop();
  for (const undo of restore.reverse()) undo();
});

describe("IPMI fencing through a delegate's fence_ipmilan", () => {
  it("outcomes 2 and 3: wrong password, BMC unreachable, dead delegate: fencing required each time; then host-3 fences host-1 and web-1 moves, once", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    const h2 = cloud.fleet.hosts.get("host-2")!;
    const secret = localBmcSecretName("host-1");
    const password = cloud.bmcs.bmc("host-1").password;
    cloud.secrets.putSecret(secret, WRONG_PASSWORD);
    const watch = watchDoubleRuns(cloud, [web]);
    const onHost1Only = async () => {
      expect(await runningOn(cloud, web.uuid)).toEqual(["host-1"]);
      expect(await cloud.stores.instances.require(web.uuid)).toMatchObject({
        host: "host-1",
        fencingRequired: { host: "host-1", refusedBy: null },
      });
    };
    try {
      // The management network fails; the guest goes on running.
      await h1.stopHeartbeat();
      await h1.stopAgent();
      const execution = await executionFor(cloud, "host-evacuation", "host-1");

      // 1. A wrong password: the BMC refuses through every delegate.
      const refused = await fenceRecord("host-1", 0, "a fence refused for its password", (r) =>
        answered(r, /Unable to obtain correct plug status/),
      );
      expect(refused).toMatchObject({ method: "ipmi", outcome: "failed" });
      expect(refused.answers.map((a) => a.delegate)).toEqual(expect.arrayContaining(["host-2", "host-3"]));
      await until(
        "web-1 fencing required",
        async () => (await cloud.stores.instances.require(web.uuid)).fencingRequired !== null,
      );
      await onHost1Only();

      // 2. The BMC does not answer (its simulator stopped by pid); the password is right again.
      const seen = (await powerLog("host-1")).length;
      await cloud.bmcs.stop("host-1");
      cloud.secrets.putSecret(secret, password);
      const unreachable = await fenceRecord("host-1", seen, "a fence with no BMC answering", (r) =>
        answered(r, /timed out|no answer within/i),
      );
      expect(unreachable.outcome).toBe("failed");
      await onHost1Only();

      // 3. The first delegate is dead (its agent stopped: nothing it is sent runs); the BMC answers again.
      await h2.stopAgent();
      await cloud.bmcs.start("host-1");
      const fenced = await fenceRecord("host-1", 0, "host-1 powered off", (r) => r.outcome === "off");
      await h2.startAgent();
      expect(fenced).toMatchObject({ method: "ipmi", delegate: "host-3" });
      expect(fenced.answers[0]).toMatchObject({ delegate: "host-2", step: "delivery", exitCode: null });
      expect(fenced.answers.slice(-1)[0]).toMatchObject({
        delegate: "host-3",
        step: "status",
        exitCode: 2,
        answer: "Status: OFF",
      });

      const run = await waitFlow(sfn, execution, 240_000);
      expect(run.status, run.cause).toBe("SUCCEEDED");
      // The fence reset host-1: every process of it, its guest's qemu included, is gone.
      expect(h1.running).toBe(false);
      const report = (run.output as { report: Record<string, unknown> }).report as {
        evacuated: { name: string; proof: string }[];
        fencingRequired: unknown[];
        fence: {
          method: string;
          delegate: string;
          outcome: string;
          answers: { delegate: string; answer: string }[];
        };
      };
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "web-1", proof: "power" })]);
      expect(report.fencingRequired).toEqual([]);
      expect(report.fence).toMatchObject({ method: "ipmi", delegate: "host-3", outcome: "off" });
      expect(report.fence.answers.at(-1)).toMatchObject({ delegate: "host-3", answer: "Status: OFF" });
      // The incident (host record) names the fence too.
      expect((await cloud.stores.hosts.require("host-1")).incident?.summary?.fence).toMatchObject({
        method: "ipmi",
        delegate: "host-3",
        outcome: "off",
      });
    } finally {
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fault: null, fencingRequired: null });
    expect(["host-2", "host-3"]).toContain(moved.host);
    expect(await runningOn(cloud, web.uuid)).toEqual([moved.host]);
    await expectInvariants(cloud);
  });

  it("outcome 4: `lazarus host power host-1 status|on` brings it back clean; bad input and an enabled host's off change nothing", async () => {
    const status = await lazarus("host", "power", "host-1", "status");
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/outcome\s+off/);
    expect(status.stdout).toMatch(/Status: OFF/);

    // Refused, each with nothing done: an unknown action (the CLI, the API), an enabled host's off, no host.
    const before = { h1: (await powerLog("host-1")).length, h2: (await powerLog("host-2")).length };
    const badAction = await lazarus("host", "power", "host-1", "reboot");
    expect(badAction.code).toBe(2);
    expect(badAction.stderr).toMatch(/unknown power action reboot/);
    const api = (path: string, body: unknown) =>
      fetch(`${cloud.api.url}/v2.1${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await api("/os-hosts/host-1/power", { power: { action: "reboot" } })).status).toBe(400);
    expect((await api("/os-hosts/host-1/power", { power: { action: "off", password: "x" } })).status).toBe(
      400,
    );
    expect((await api("/os-hosts/no-such-host/power", { power: { action: "status" } })).status).toBe(404);
    const enabledOff = await lazarus("host", "power", "host-2", "off");
    expect(enabledOff.code).toBe(1);
    expect(enabledOff.stderr).toMatch(/host host-2 is enabled: disable it first/);
    expect(cloud.fleet.hosts.get("host-2")!.running).toBe(true);
    expect((await powerLog("host-1")).length).toBe(before.h1);
    expect((await powerLog("host-2")).length).toBe(before.h2);

    // Power on: libvirtd and the agent come back, nothing is started; host-recovery cleans up.
    const on = await lazarus("host", "power", "host-1", "on");
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/outcome\s+on/);
    const h1 = cloud.fleet.hosts.get("host-1")!;
    await until("host-1 running", () => h1.running && h1.agentRunning);
    const recovery = await executionFor(cloud, "host-recovery", "host-1");
    const rec = await waitFlow(sfn, recovery, HOST_FAILURE_WAIT_MS);
    expect(rec.status, rec.cause).toBe("SUCCEEDED");
    expect(await domState(cloud, "host-1", web.uuid)).toBe("absent");
    const scratch = await h1.virsh(["domstate", "scratch-1"]);
    expect(scratch.stdout.trim()).toBe("shut off");
    expect((await h1.virsh(["list", "--uuid"])).stdout.trim()).toBe("");
    expect((await cloud.stores.hosts.require("host-1")).incident?.status).toBe("closed");
    // Would host-1's fence work now? Through its delegates, the BMC answers (on).
    const test = await lazarus("host", "fence-test", "host-1");
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(
      /the fence of host-1 would work: delegate host-2 reached its BMC, which says the power is on/,
    );
    const log = await powerLog("host-1");
    expect(log.slice(-3).map((r) => [r.action, r.outcome, r.requestedBy])).toEqual([
      ["status", "off", "api (anonymous)"],
      ["on", "on", "api (anonymous)"],
      ["fence-test", "on", "api (anonymous)"],
    ]);
    const shown = await lazarus("host", "power-log", "host-1");
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/delegates now: host-2, host-3/);
    expect(shown.stdout).toMatch(/fence-test\s+on\s+ipmi\s+host-2/);
    await expectInvariants(cloud);
  });

  it("outcome 1: the host running web-1 loses power by hand: fenced through a peer (its BMC says off), web-1 back with proof power", async () => {
    // The operator puts host-1 back in service: it may be a target and a delegate again.
    const enabled = await lazarus("host", "enable", "host-1");
    expect(enabled.code, enabled.stderr).toBe(0);
    const from = (await cloud.stores.instances.require(web.uuid)).host;
    const watch = watchDoubleRuns(cloud, [web]);
    try {
      await cloud.killHost(from);
      const execution = await executionFor(cloud, "host-evacuation", from);
      const run = await waitFlow(sfn, execution, 240_000);
      expect(run.status, run.cause).toBe("SUCCEEDED");
      const report = (run.output as { report: Record<string, unknown> }).report as {
        evacuated: { name: string; host: string; proof: string }[];
        fence: { method: string; delegate: string; outcome: string };
      };
      // Delegates by name: host-1 first.
      expect(report.fence).toMatchObject({ method: "ipmi", delegate: "host-1", outcome: "off" });
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "web-1", proof: "power" })]);
      const fence = (await powerLog(from)).filter((r) => r.action === "fence").at(-1)!;
      expect(fence.answers.at(-1)).toMatchObject({ delegate: "host-1", answer: "Status: OFF", exitCode: 2 });
    } finally {
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(moved.host).not.toBe(from);
    expect(await runningOn(cloud, web.uuid)).toEqual([moved.host]);
    await expectInvariants(cloud);
  });

  it("outcome 5: no BMC password in a command line, an execution history, a log line, a DynamoDB item, an SSM command or a host log", async () => {
    const sample = await procs.stop();
    expect(sample.secretsSeen).toEqual([]);
    expect(sample.doubleQemu).toEqual([]);
    // It looked while the fence agents ran, and the delegates did read the password.
    expect(sample.watchedSeen).toBeGreaterThan(0);
    expect(cloud.secrets.reads()[localBmcSecretName("host-1")]).toBeGreaterThanOrEqual(3);

    const places: Record<string, string> = { printed };
    for (const machine of Object.keys(cloud.stateMachineArns)) {
      const arn = cloud.stateMachineArns[machine]!;
      for (const e of cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 })
        .executions ?? []) {
        const history = cloud.stepFunctions.getExecutionHistory({
          executionArn: e.executionArn!,
          maxResults: 1000,
        });
        places[`history ${e.name}`] = JSON.stringify({ e, history });
      }
    }
    expect(Object.keys(places).length).toBeGreaterThan(3);
    const dynamo = createDynamoClient({ endpoint: cloud.dynamo.endpoint });
    for (const [id, table] of Object.entries(tableNamesFromEnv(cloud.env))) {
      let key: Record<string, unknown> | undefined;
      do {
        const page = await dynamo.send(
          new ScanCommand({ TableName: table, ExclusiveStartKey: key as never }),
        );
        places[`table ${id}`] = `${places[`table ${id}`] ?? ""}${JSON.stringify(page.Items ?? [])}`;
        key = page.LastEvaluatedKey;
      } while (key);
    }
    dynamo.destroy();
    let token: string | undefined;
    do {
      const page = await cloud.ssm.send(
        new ListCommandInvocationsCommand({ Details: true, NextToken: token }),
      );
      places.ssm = `${places.ssm ?? ""}${JSON.stringify(page.CommandInvocations ?? [])}`;
      token = page.NextToken;
    } while (token);
    // Every log of the hosts and the BMCs (lan.conf holds the password by design: it is the BMC's).
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
        const p = join(dir, d.name);
        if (d.isDirectory()) return files(p);
        return d.isFile() && d.name.endsWith(".log") && statSync(p).size < 32 << 20 ? [p] : [];
      });
    for (const f of files(cloud.fleet.dir)) places[f] = readFileSync(f, "utf8");
    expect(Object.keys(places).some((k) => k.endsWith("agent.log"))).toBe(true);
    for (const [where, text] of Object.entries(places))
      for (const p of passwords) expect(text.includes(p), `a BMC password in ${where}`).toBe(false);
  });
});
