/** The host-failure steps' dependencies over a step world (test/support/step-harness.ts). */
import { DEFAULT_FENCING_CONFIG, type HeartbeatSample } from "#shared/domain/fencing.js";
import { DEFAULT_HOST_FAILURE_CONFIG } from "#shared/domain/host-failure.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { StepWorld } from "./step-harness.js";

/** HostFailureDeps over a step world: heartbeats as given, a fence that records and answers as told. */
export function hostFailureDeps(
  w: StepWorld,
  opts: { heartbeats?: HeartbeatSample[]; fence?: "off" | "refuse" } = {},
) {
  const fenced: string[] = [];
  const markedDead: string[] = [];
  const deps: HostFailureDeps = {
    ...w.deps,
    heartbeats: {
      lastHeartbeat: async () => opts.heartbeats?.at(-1)?.at ?? null,
      samples: async () => opts.heartbeats ?? [],
      // No fleet series: an alarm's evacuation waits the mass-failure settle.
      fleetBeatSeconds: async () => 0,
    },
    heartbeatFleet: "/lazarus/host-heartbeats",
    starter: { start: async (machine, name) => ({ started: true, executionArn: `${machine}:${name}` }) },
    config: DEFAULT_HOST_FAILURE_CONFIG,
    fencing: { ...DEFAULT_FENCING_CONFIG, leaseSeconds: 10, leaseMarginSeconds: 5 },
    alerts: { alert: async () => undefined },
    hostPower: {
      stores: w.deps.stores,
      executor: w.deps.executor,
      ec2: {
        requestPowerOff: async (id: string) => {
          fenced.push(id);
          if (opts.fence === "refuse") throw new Error("refused (test)");
        },
        requestPowerOn: async () => undefined,
        powerState: async () => (opts.fence === "off" ? "stopped" : "running"),
      },
      now: w.deps.now,
      sleep: async () => undefined,
      region: "us-east-1",
      serviceDownSeconds: 60,
      pollMs: 0,
      maxDelegates: 3,
    },
    probeDeadlineMs: 1000,
    // The probe sent when the incident opens: answered (or not) by the step world's host when it is read.
    probes: {
      send: async () => ({ commandId: "liveness-probe", sentAtMs: w.deps.now().getTime(), deadlineMs: 1000 }),
      answer: (host, command) => w.deps.executor.probe(host, command),
    },
    recoveryPollSeconds: 1,
    machines: { hostEvacuation: "arn:evac", hostRecovery: "arn:recover" },
    hostAlarms: {
      markDead: async (host) => {
        markedDead.push(host);
      },
    },
  };
  return { deps, fenced, markedDead };
}
