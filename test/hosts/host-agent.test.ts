/**
 * Issue 29 on the local cloud, with the packaged host agent on every host:
 *  - outcome 4: a host registered through the API gets its alarms with no redeploy (CloudWatch
 *    DescribeAlarms), its node tagged; its first heartbeats turn the heartbeat alarm OK; deregistering
 *    through the API removes the alarms, the tag and the record;
 *  - docs/DEPLOY.md section 3 walked as far as it applies here: every `lazarus-host` and `lazarus host`
 *    command of its shell blocks is run (on the host, as the host's user; the CLI against the local API),
 *    with the example names replaced by the local host's; every other command there is one this test
 *    knows needs a real machine (so a new command is either walked or listed);
 *  - `lazarus-host status --json` says what an operator asks: registered, heartbeat, watchdog, monitor.
 * host-a starts unregistered (`seedHosts: false`).
 */
import { readFileSync } from "node:fs";
import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { ListTagsForResourceCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { LocalHost } from "#local/hosts/local-host.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { FAST_DETECTION, until } from "../support/hosts.js";
import { runProcess } from "../support/processes.js";

let cloud: LocalCloud;
let hostA: LocalHost;
let cw: CloudWatchClient;

/** A host's only alarm: its heartbeat (the instance monitor's health rides in the heartbeat line). */
const ALARMS = ["lazarus-heartbeat-host-a"];

async function alarms(): Promise<{ name: string; state: string }[]> {
  const out = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ALARMS }));
  return (out.MetricAlarms ?? []).map((a) => ({ name: a.AlarmName!, state: a.StateValue! }));
}

async function nodeTags(): Promise<Record<string, string>> {
  const out = await cloud.ssm.send(
    new ListTagsForResourceCommand({ ResourceType: "ManagedInstance", ResourceId: hostA.managedInstanceId }),
  );
  return Object.fromEntries((out.TagList ?? []).map((t) => [t.Key!, t.Value!]));
}

function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${cloud.api.url}/v2.1${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then(async (r) => ({
    status: r.status,
    body: (await r.json().catch(() => ({}))) as Record<string, unknown>,
  }));
}

/** The `lazarus` CLI (cli/bin/lazarus) against the local API. */
function lazarusCli(args: string[]) {
  return runProcess(new URL("cli/bin/lazarus", PROJECT_ROOT).pathname, args, {
    env: { ...process.env, LAZARUS_API_URL: cloud.api.url },
  });
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [{ name: "host-a" }],
    seedHosts: false,
    hostFailure: FAST_DETECTION,
    instanceFailure: {},
  });
  hostA = cloud.fleet.hosts.get("host-a")!;
  cw = new CloudWatchClient({
    endpoint: cloud.cloudwatch.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}, 300_000);

afterAll(async () => {
  cw?.destroy();
  await cloud?.stop();
});

describe("the host agent and registration", () => {
  it("before registration: the agent heartbeats, status says not registered", async () => {
    await until("host-a's heartbeat", () =>
      cloud.cloudwatch.lastDatumAt("Lazarus", "Heartbeat", { Host: "host-a" }),
    );
    expect(await alarms()).toEqual([]);
    const r = await hostA.lazarusHost(["status", "--json"]);
    expect(r.exitCode, r.stderr).toBe(1);
    const status = JSON.parse(r.stdout) as { registered: { ok: boolean }; heartbeat: { ok: boolean } };
    expect(status.registered.ok).toBe(false);
    expect(status.heartbeat.ok).toBe(true);
  });

  it("outcome 4: registered through the API, the host gets its alarms and its tag; its heartbeats turn the alarm OK", async () => {
    const r = await api("POST", "/os-hosts", {
      host: { name: "host-a", managed_instance_id: hostA.managedInstanceId },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const report = r.body.host as {
      alarms: string[];
      setup: { config: Record<string, unknown>; commands: string[] };
    };
    expect(report.alarms).toEqual(ALARMS);
    expect(report.setup.config).toMatchObject({ host: "host-a", region: "us-east-1" });
    // The handed-out file is the one the host runs with (the agent's part kept from the host's own file).
    const onHost = JSON.parse(readFileSync(hostA.settingsPath, "utf8")) as Record<string, unknown>;
    expect(report.setup.config).toMatchObject({ endpoints: onHost.endpoints, heartbeat: onHost.heartbeat });
    expect((await alarms()).map((a) => a.name).sort()).toEqual(ALARMS);
    expect(await nodeTags()).toMatchObject({ "lazarus:host": "host-a", "lazarus:kvm-host": "true" });
    await until(
      "the heartbeat alarm OK",
      async () => ((await alarms()).find((a) => a.name === ALARMS[0])?.state === "OK" ? true : undefined),
      60_000,
    );
    const status = JSON.parse((await hostA.lazarusHost(["status", "--json"])).stdout) as {
      registered: { ok: boolean; state: string };
      monitor: { connected: boolean };
      ok: boolean;
    };
    expect(status.registered).toMatchObject({ ok: true, state: "OK" });
    expect(status.monitor.connected).toBe(true);
  });

  it("deregistered through the API: alarms, tag and record gone", async () => {
    const r = await api("DELETE", "/os-hosts/host-a", undefined, { "idempotency-key": "dereg-1" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await alarms()).toEqual([]);
    expect(await nodeTags()).not.toHaveProperty("lazarus:host");
    expect(await cloud.stores.hosts.get("host-a")).toBeNull();
    // The same request again with the same Idempotency-Key is a retry (the first answer replayed); a new
    // request (another key, or none) is 404: the host is gone.
    expect(
      (await api("DELETE", "/os-hosts/host-a", undefined, { "idempotency-key": "dereg-1" })).status,
    ).toBe(200);
    expect((await api("DELETE", "/os-hosts/host-a", undefined, { "idempotency-key": "again" })).status).toBe(
      404,
    );
    expect((await api("DELETE", "/os-hosts/host-a")).status).toBe(404);
  });

  it("docs/DEPLOY.md section 3, walked: every lazarus-host / lazarus host command runs here and succeeds", async () => {
    const deploy = readFileSync(new URL("docs/DEPLOY.md", PROJECT_ROOT), "utf8");
    const section = deploy.slice(deploy.indexOf("## 3. "), deploy.indexOf("## 4. "));
    const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
      .flatMap((m) => m[1]!.split("\n"))
      .map((l) => l.replace(/\s+#.*$/, "").trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    // Commands of a real machine or of the AWS account (apt, systemd, the SSM agent, IAM): not walked here.
    // (A line opening with `{` continues a quoted JSON argument of the command before it.)
    const needsRealMachine =
      /^(aws |apt-get |amazon-ssm-agent |systemctl |modprobe |echo |cat |cp |install |printf |npm run package:host|--|\{)/;
    const joined = commands.filter((_l, i) => !(commands[i - 1] ?? "").endsWith("\\"));
    const walked = joined.filter((l) => /^lazarus(-host)? /.test(l));
    expect(joined.filter((l) => !walked.includes(l) && !needsRealMachine.test(l))).toEqual([]);
    expect(walked.length).toBeGreaterThanOrEqual(3);
    // Registration first when the docs say so; each command with the example names made local.
    const local = (l: string) =>
      l.replaceAll("kvm-01", "host-a").replaceAll("mi-0123456789abcdef0", hostA.managedInstanceId);
    for (const line of walked.map(local)) {
      const [cmd, ...args] = line.split(/\s+/);
      if (cmd === "lazarus") {
        const r = await lazarusCli(args);
        expect(r.code, `${line}\n${r.out}`).toBe(0);
        if (args[1] === "register") expect(r.out).toMatch(/lazarus-host status/);
      } else {
        // Before registration (section order: install, then register), status fails on "registered" only.
        const r = await hostA.lazarusHost(args);
        const registered = (await alarms()).length > 0;
        if (args[0] !== "status" || registered) expect(r.exitCode, `${line}\n${r.stdout}${r.stderr}`).toBe(0);
      }
    }
    await until(
      "the heartbeat alarm OK again",
      async () => ((await alarms()).find((a) => a.name === ALARMS[0])?.state === "OK" ? true : undefined),
      60_000,
    );
    const status = await hostA.lazarusHost(["status"]);
    expect(status.exitCode, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/registered +yes/);
  });
});
