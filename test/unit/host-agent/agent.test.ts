/**
 * The host agent as packaged (the bundle the package holds, run by the project's Node 24):
 *  - issue 29 outcome 2: a bad /etc/lazarus/host.json (missing region, unknown key, bad URL) exits 78 with a
 *    message naming the key, and nothing is sent (the endpoints it names see no connection);
 *  - issue 29 outcome 5: the local CloudWatch, CloudWatch Logs and EventBridge endpoints refuse an unsigned
 *    request (and a wrongly signed one), and take the agent's signed heartbeat: its value is the armed
 *    watchdog's timeout read from the device's sysfs folder, 0 when no watchdog is armed.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureHostAgentBundle } from "#host-agent/package/bundle.js";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { type LogsEndpoint, startLogsEndpoint } from "#local/cloudwatch/logs-endpoint.js";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { LocalCredentials } from "#local/http/sigv4.js";
import { hostPrincipal } from "#local/iam/host-policy.js";
import {
  FLEET_HEARTBEAT_METRIC,
  HEARTBEAT_METRIC,
  heartbeatLogGroupName,
} from "#shared/definitions/heartbeat.js";
import { runProcess } from "../../support/processes.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let bundle: string;
let work: string;
let counter: Server;
let connections = 0;
let counterUrl: string;
let credentials: LocalCredentials;
let cloudwatch: CloudWatchEndpoint;
let logs: LogsEndpoint;
let events: EventsEndpoint;

/** The packaged program, run as its unit would (no environment but PATH and HOME). */
function agent(args: string[]) {
  return runProcess(process.execPath, [bundle, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: work },
    timeoutMs: 20_000,
  });
}

function writeConfig(name: string, config: unknown): string {
  const path = join(work, name);
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config));
  return path;
}

beforeAll(async () => {
  bundle = await ensureHostAgentBundle();
  work = mkdtempSync(join(tmpdir(), "lz-agent-"));
  counter = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => counter.listen(0, "127.0.0.1", r));
  counterUrl = `http://127.0.0.1:${(counter.address() as { port: number }).port}`;
  credentials = new LocalCredentials();
  cloudwatch = await startCloudWatchEndpoint({ credentials });
  logs = await startLogsEndpoint({ metrics: cloudwatch, credentials });
  logs.createLogGroup(heartbeatLogGroupName());
  events = await startEventsEndpoint({ credentials });
}, 120_000);

afterAll(async () => {
  await Promise.all([cloudwatch?.close(), logs?.close(), events?.close()]);
  await new Promise((r) => counter?.close(r));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a bad host.json: exit 78 naming the key, nothing sent", () => {
  const good = () => ({
    host: "kvm-01",
    region: "eu-west-1",
    endpoints: { logs: counterUrl, cloudwatch: counterUrl, events: counterUrl },
  });
  const cases: [string, (c: Record<string, unknown>) => unknown, RegExp][] = [
    ["missing region", ({ region: _, ...c }) => c, /region: required/],
    ["an unknown key", (c) => ({ ...c, heartbeatInterval: 5 }), /heartbeatInterval: unknown key/],
    [
      "an unknown nested key",
      (c) => ({ ...c, watchdog: { device: "/dev/watchdog", timeout: 5 } }),
      /watchdog\.timeout: unknown key/,
    ],
    ["a bad URL", (c) => ({ ...c, endpoints: { logs: "not a url" } }), /endpoints\.logs: /],
    ["a URL with a path", (c) => ({ ...c, endpoints: { logs: `${counterUrl}/x?y=1` } }), /endpoints\.logs: /],
    ["a bad host name", (c) => ({ ...c, host: "a;b" }), /host: /],
    ["not JSON", () => "{ nope", /not JSON/],
  ];
  for (const [what, make, message] of cases) {
    it(what, async () => {
      const before = connections;
      for (const part of ["heartbeat", "monitor"]) {
        const r = await agent([part, "--config", writeConfig(`${what}.json`, make(good()))]);
        expect(r.code, r.out).toBe(78);
        expect(r.out).toMatch(message);
      }
      expect(connections).toBe(before);
    });
  }

  it("the good configuration is valid (the cases above differ from it only by the bad value)", async () => {
    const r = await agent(["check-config", "--config", writeConfig("good.json", good())]);
    expect(r.code, r.out).toBe(0);
  });
});

describe("SigV4 on the local endpoints", () => {
  const unsigned = (url: string, target: string, version: string, body: unknown) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": `application/x-amz-json-${version}`, "x-amz-target": target },
      body: JSON.stringify(body),
    });

  it("an unsigned heartbeat is refused by CloudWatch, CloudWatch Logs and EventBridge (403), and stored nowhere", async () => {
    const at = Date.now() / 1000;
    const cw = await unsigned(cloudwatch.url, "GraniteServiceVersion20100801.PutMetricData", "1.0", {
      Namespace: "Lazarus",
      MetricData: [
        {
          MetricName: "Heartbeat",
          Dimensions: [{ Name: "Host", Value: "unsigned" }],
          Value: 30,
          Timestamp: at,
        },
      ],
    });
    expect(cw.status).toBe(403);
    expect(cw.headers.get("x-amzn-errortype")).toBe("MissingAuthenticationToken");
    const lg = await unsigned(logs.url, "Logs_20140328.PutLogEvents", "1.1", {
      logGroupName: heartbeatLogGroupName(),
      logStreamName: "unsigned/heartbeat",
      logEvents: [{ timestamp: Date.now(), message: "{}" }],
    });
    expect(lg.status).toBe(403);
    const ev = await unsigned(events.url, "AWSEvents.PutEvents", "1.1", {
      Entries: [{ Source: "x", DetailType: "y", Detail: "{}" }],
    });
    expect(ev.status).toBe(403);
    expect(events.events).toHaveLength(0);
    expect(cloudwatch.lastDatumAt("Lazarus", "Heartbeat", { Host: "unsigned" })).toBeUndefined();
  });

  it("a request signed with a secret the cloud did not issue is refused", async () => {
    const { CloudWatchClient, PutMetricDataCommand } = await import("@aws-sdk/client-cloudwatch");
    const forged = new CloudWatchClient({
      endpoint: cloudwatch.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "not-the-secret" },
      maxAttempts: 1,
    });
    await expect(
      forged.send(
        new PutMetricDataCommand({
          Namespace: "Lazarus",
          MetricData: [{ MetricName: "Heartbeat", Value: 1 }],
        }),
      ),
    ).rejects.toMatchObject({ name: "SignatureDoesNotMatch" });
    forged.destroy();
  });

  it("the agent's signed heartbeats land as the heartbeat metric; the value is the armed watchdog's timeout (sysfs), else 0; the device is fed only after an accepted one", async () => {
    const key = credentials.issue(hostPrincipal("kvm-02"));
    const credsFile = writeConfig(
      "credentials",
      `[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`,
    );
    const sysfs = join(work, "sys", "watchdog0");
    mkdirSync(sysfs, { recursive: true });
    writeFileSync(join(sysfs, "state"), "inactive\n");
    writeFileSync(join(sysfs, "timeout"), "17\n");
    // The "device" is a plain file here: every feed is a write to it (the device's semantics: watchdog.test.ts).
    const device = writeConfig("device", "");
    const config = writeConfig("hb.json", {
      host: "kvm-02",
      region: "us-east-1",
      endpoints: { logs: logs.url, cloudwatch: cloudwatch.url, events: events.url },
      credentials: { file: credsFile },
      heartbeat: { logGroup: heartbeatLogGroupName(), intervalSeconds: 0.2, feedWithinSeconds: 2 },
      watchdog: { device, sysfs },
      stateDir: join(work, "state"),
    });
    const child = spawn(process.execPath, [bundle, "heartbeat", "--config", config], { stdio: "ignore" });
    const values = () =>
      cloudwatch
        .data(HEARTBEAT_METRIC.namespace, HEARTBEAT_METRIC.metricName, { Host: "kvm-02" })
        .map((d) => d.value);
    try {
      const until = async (what: string, ok: () => boolean) => {
        const deadline = Date.now() + 20_000;
        while (!ok()) {
          if (Date.now() > deadline) throw new Error(`timed out: ${what}; values ${values().join(",")}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await until("a heartbeat saying 0 (not armed)", () => values().includes(0));
      writeFileSync(join(sysfs, "state"), "active\n");
      await until("a heartbeat saying 17 (armed, as sysfs says)", () => values().at(-1) === 17);
      writeFileSync(join(sysfs, "timeout"), "9\n");
      await until("a heartbeat saying 9", () => values().at(-1) === 9);
      expect(logs.events(heartbeatLogGroupName(), "kvm-02/heartbeat").length).toBeGreaterThan(2);
      // Each line also adds the host's interval to the fleet's series (one per deployment, no host in it).
      const fleet = cloudwatch.data(FLEET_HEARTBEAT_METRIC.namespace, FLEET_HEARTBEAT_METRIC.metricName, {
        [FLEET_HEARTBEAT_METRIC.dimension]: heartbeatLogGroupName(),
      });
      expect(fleet.length).toBeGreaterThan(2);
      expect(new Set(fleet.map((d) => d.value))).toEqual(new Set([0.2]));
      // Fed after accepted heartbeats only: each feed is one byte written to the "device".
      await until("feeds", () => statSync(device).size > 2);
      // The host's key withdrawn (its heartbeats refused, 403): not one more feed.
      credentials.revoke(key.accessKeyId);
      await sleep(600);
      const fedBefore = statSync(device).size;
      await sleep(1500);
      expect(statSync(device).size).toBe(fedBefore);
      const state = JSON.parse(readFileSync(join(work, "state", "heartbeat.json"), "utf8")) as {
        lastFailure: { error: string } | null;
      };
      expect(state.lastFailure?.error).toMatch(/InvalidClientTokenId/);
      credentials.add(key.accessKeyId, key.secretAccessKey, key.principal);
      await until("feeds again once accepted", () => statSync(device).size > fedBefore);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.on("close", r));
    }
    // A deliberate stop announces "no watchdog" last.
    expect(values().at(-1)).toBe(0);
  });
});
