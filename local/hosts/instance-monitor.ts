/**
 * The instance monitor of one host: a small process of the host's user (beside its agent and heartbeat
 * publisher, as a systemd unit would be on a real host) that runs the lifecycle monitor module
 * (`lifecycle-monitor.ts`) and
 *  - reports each unexpected stop to the control plane as a "Lazarus Domain Stopped" EventBridge event
 *    through the SDK (AWS_ENDPOINT_URL_EVENTBRIDGE locally), with libvirt's reason and time;
 *  - publishes its own heartbeat (metric Lazarus/Heartbeat with dimensions Host + Component
 *    "instance-monitor") only while the event stream runs: when the monitor dies, or cannot follow
 *    libvirt, that stream goes silent while the host's own heartbeat goes on (a dead monitor is not a dead host).
 *
 * Usage: node --import tsx local/hosts/instance-monitor.ts --host NAME --interval-ms N [--uid N --gid N]
 * Started as root with --uid/--gid, it drops to the host's user once its modules are loaded (drop-privileges.ts).
 */
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import {
  COMPONENT_DIMENSION,
  DOMAIN_STOPPED_EVENT,
  INSTANCE_MONITOR_COMPONENT,
} from "#shared/definitions/instance-failure.js";
import { DomainStoppedDetail } from "#shared/domain/instance-failure.js";
import { exitWithUsage, parseArgsAsHostUser } from "./drop-privileges.js";
import { LifecycleMonitor } from "./lifecycle-monitor.js";

const values = parseArgsAsHostUser(["host", "interval-ms"]);
const host = values.host;
const intervalMs = Number(values["interval-ms"] ?? 1000);
if (!host || !(intervalMs > 0)) exitWithUsage("instance-monitor.ts --host NAME --interval-ms N");

const log = (msg: string) => console.error(`${new Date().toISOString()} instance-monitor ${host}: ${msg}`);
const events = new EventBridgeClient({ maxAttempts: 5 });
const metrics = new CloudWatchClient({ maxAttempts: 2 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One report, retried until EventBridge takes it (the id derived from it makes a resend harmless). */
async function report(detail: DomainStoppedDetail): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await events.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: DOMAIN_STOPPED_EVENT.source,
              DetailType: DOMAIN_STOPPED_EVENT.detailType,
              Resources: [detail.instanceUuid],
              Detail: JSON.stringify(detail),
            },
          ],
        }),
      );
      if (!out.FailedEntryCount) {
        log(`reported ${detail.domain} stopped (${detail.reason}) at ${detail.stoppedAt}`);
        return;
      }
      throw new Error(`entry refused: ${out.Entries?.[0]?.ErrorCode} ${out.Entries?.[0]?.ErrorMessage}`);
    } catch (e) {
      if (attempt >= 30) throw e;
      log(`report of ${detail.domain} not taken (${e instanceof Error ? e.message : String(e)}); retrying`);
      await sleep(Math.min(10_000, 200 * 2 ** attempt));
    }
  }
}

const monitor = new LifecycleMonitor({
  env: process.env,
  log,
  report: (e) =>
    report(
      DomainStoppedDetail.parse({
        host,
        instanceUuid: e.instanceUuid,
        domain: e.domain,
        event: e.event,
        reason: e.detail,
        stoppedAt: e.at,
      }),
    ),
});
monitor.start();
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => void monitor.stop().finally(() => process.exit(0)));
}

// Exit with the process that started us (as the agent does): nothing outlives the local cloud.
const parent = process.ppid;
for (;;) {
  if (process.ppid !== parent) {
    await monitor.stop();
    process.exit(1);
  }
  const started = Date.now();
  if (monitor.alive) {
    await metrics
      .send(
        new PutMetricDataCommand({
          Namespace: HEARTBEAT_METRIC.namespace,
          MetricData: [
            {
              MetricName: HEARTBEAT_METRIC.metricName,
              Dimensions: [
                { Name: HEARTBEAT_METRIC.dimension, Value: host },
                { Name: COMPONENT_DIMENSION, Value: INSTANCE_MONITOR_COMPONENT },
              ],
              Timestamp: new Date(),
              Value: 1,
              Unit: "Count",
              StorageResolution: HEARTBEAT_METRIC.storageResolution,
            },
          ],
        }),
      )
      .catch((e: unknown) => log(`liveness not published: ${e instanceof Error ? e.message : String(e)}`));
  }
  await sleep(Math.max(0, intervalMs - (Date.now() - started)));
}
