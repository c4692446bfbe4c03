/**
 * The host side of the heartbeat: one small process per local host, apart from its SSM agent (as a
 * systemd timer or a tiny daemon would be on a real host), that publishes the `Lazarus/Heartbeat` metric
 * with the host's dimension every interval through CloudWatch's PutMetricData (AWS JSON 1.0, the protocol
 * of @aws-sdk/client-cloudwatch) to the endpoint it is given. It dies with the host (power loss), and the
 * tests stop and start it alone to make a heartbeat blip.
 *
 * With `--feed PATH` it feeds the host's watchdog (local/hosts/host-guard.ts) after each heartbeat that
 * CloudWatch accepted, and only then: a host whose heartbeats do not get through self-fences.
 *
 * Usage: node --import tsx local/hosts/heartbeat-publisher.ts --endpoint URL --host NAME --interval-ms N
 *        [--feed PATH] [--uid N --gid N]
 * Started as root with --uid/--gid, it drops to the host's user once its modules are loaded (drop-privileges.ts).
 */
import { writeFileSync } from "node:fs";
import { HEARTBEAT_METRIC, heartbeatDatum } from "#shared/definitions/heartbeat.js";
import { exitWithUsage, parseArgsAsHostUser } from "./drop-privileges.js";

const values = parseArgsAsHostUser(["endpoint", "host", "interval-ms", "feed"]);
const { endpoint, host } = values;
const intervalMs = Number(values["interval-ms"] ?? 1000);
if (!endpoint || !host || !(intervalMs > 0)) {
  exitWithUsage("heartbeat-publisher.ts --endpoint URL --host NAME --interval-ms N [--feed PATH]");
}

const log = (msg: string) => console.error(`${new Date().toISOString()} heartbeat ${host}: ${msg}`);

async function beat(): Promise<void> {
  // Value 0: no watchdog device is armed by this process (heartbeatDatum's contract); the guard beside it is
  // an ordinary process of the host, not evidence of self-fencing.
  const now = new Date();
  // AWS JSON 1.0 carries timestamps as epoch seconds.
  const datum = { ...heartbeatDatum(host!, now, 0), Timestamp: now.getTime() / 1000 };
  const body = { Namespace: HEARTBEAT_METRIC.namespace, MetricData: [datum] };
  const res = await fetch(`${endpoint}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "GraniteServiceVersion20100801.PutMetricData",
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(Math.max(1000, intervalMs)),
  });
  if (!res.ok) throw new Error(`PutMetricData: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
}

// Exit with the process that started us (as the agent does): nothing outlives the local cloud.
const parent = process.ppid;
for (;;) {
  if (process.ppid !== parent) process.exit(1);
  const started = Date.now();
  await beat()
    .then(() => {
      if (values.feed) writeFileSync(values.feed, `${new Date().toISOString()}\n`);
    })
    .catch((e: unknown) => log(`not published: ${e instanceof Error ? e.message : String(e)}`));
  await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
}
