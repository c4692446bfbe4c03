/**
 * The local stand-in for nova-compute's service heartbeat in the host records: every interval, each host's
 * `lastHeartbeatAt` is set from the newest heartbeat its publisher sent to the local CloudWatch endpoint
 * (the same metric the heartbeat alarm watches). A killed host sends none, its `lastHeartbeatAt` ages, and
 * after `serviceDownSeconds` the scheduler no longer places anything there. Liveness `status` is not
 * written here: the alarm trigger sets it.
 */
import type { Stores } from "#shared/store/index.js";

export interface Heartbeats {
  /** One round now (tests use it to avoid waiting for the timer). */
  beat(): Promise<void>;
  /** Stops the timer and waits for a round in flight: nothing writes to the tables once it resolves. */
  stop(): Promise<void>;
}

export function startHeartbeats(opts: {
  stores: Stores;
  /** Epoch ms of the host's newest heartbeat, if any. */
  lastHeartbeat: (host: string) => number | undefined;
  intervalMs: number;
}): Heartbeats {
  let running: Promise<void> | undefined;
  const beat = async () => {
    const hosts = await opts.stores.hosts.list();
    await Promise.all(
      hosts.map((h) => {
        const last = opts.lastHeartbeat(h.name);
        if (last === undefined) return undefined;
        const at = new Date(last).toISOString();
        if (h.lastHeartbeatAt !== null && Date.parse(h.lastHeartbeatAt) >= last) return undefined;
        return opts.stores.hosts.setService(h.name, { lastHeartbeatAt: at });
      }),
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
  return {
    beat,
    stop: async () => {
      clearInterval(timer);
      // A round still writing would reach DynamoDB after the cloud closed it.
      await running;
    },
  };
}
