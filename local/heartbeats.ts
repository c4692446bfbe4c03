/**
 * The local stand-in for nova-compute's service heartbeat: every interval, each host whose SSM agent is
 * Online (as DescribeInstanceInformation reports it) gets a fresh `lastHeartbeatAt`. A killed host's agent
 * stops polling, its heartbeat goes stale, and after `serviceDownSeconds` the flows see it as down.
 */
import type { SSMClient } from "@aws-sdk/client-ssm";
import { describeHostPing } from "#shared/hosts/ssm-executor.js";
import type { Stores } from "#shared/store/index.js";

export interface Heartbeats {
  /** One round now (tests use it to avoid waiting for the timer). */
  beat(): Promise<void>;
  stop(): void;
}

export function startHeartbeats(opts: { stores: Stores; ssm: SSMClient; intervalMs: number }): Heartbeats {
  let running: Promise<void> | undefined;
  const beat = async () => {
    const hosts = await opts.stores.hosts.list();
    const ping = await describeHostPing(
      opts.ssm,
      hosts.map((h) => h.managedInstanceId),
    );
    const now = new Date().toISOString();
    await Promise.all(
      hosts
        .filter((h) => ping[h.managedInstanceId] === "Online")
        .map((h) => opts.stores.hosts.setService(h.name, { lastHeartbeatAt: now, status: "up" })),
    );
  };
  const timer = setInterval(() => {
    if (running) return;
    running = beat()
      .catch(() => {
        // A failed round is retried at the next tick; a host's heartbeat simply ages meanwhile.
      })
      .finally(() => {
        running = undefined;
      });
  }, opts.intervalMs);
  timer.unref();
  return { beat, stop: () => clearInterval(timer) };
}
