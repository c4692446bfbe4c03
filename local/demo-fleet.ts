/**
 * The demo's fleet, one definition for the demo (local/cli.ts) and the console's screenshot
 * (scripts/console-screenshot.ts): three hosts on shared pool p1; six domains on host-1 and app-b on
 * host-2, defined by hand with virsh and adopted. HA priority and the anti-affinity group g1 (app-a, app-b)
 * are Lazarus's own policy, facts libvirt does not hold: set on the records after adoption, as an operator
 * does (db-1 and app-a restart first; app-a may only land on host-3).
 */
import type { HandDefinedDomain } from "./fleet-domains.js";
import type { LocalHostSpec } from "./hosts/local-host.js";

export const DEMO_HOSTS: LocalHostSpec[] = [
  { name: "host-1", sharedPoolId: "p1" },
  { name: "host-2", sharedPoolId: "p1" },
  { name: "host-3", sharedPoolId: "p1" },
];

const G1 = { id: "g1", policy: "anti-affinity" as const };

/** host-1's six instances first, then host-2's app-b (the peer of app-a's group). */
export const DEMO_DOMAINS: HandDefinedDomain[] = [
  {
    name: "db-1",
    host: "host-1",
    volumes: [{ name: "db-data", sizeGiB: 1, device: "vdb" }],
    policy: { haPriority: 10 },
  },
  { name: "app-a", host: "host-1", policy: { haPriority: 10, serverGroup: G1 } },
  { name: "cache-1", host: "host-1" },
  { name: "web-1", host: "host-1", nics: 2 },
  { name: "web-2", host: "host-1" },
  { name: "batch-1", host: "host-1", stopped: true },
  { name: "app-b", host: "host-2", policy: { serverGroup: G1 } },
];

/** The demo's host-failure settings: 10 s alarm periods (CloudWatch's shortest), one silent period, 8 s grace, 3 evacuations at once. */
export const DEMO_HOST_FAILURE = {
  alarmPeriodSeconds: 10,
  alarmEvaluationPeriods: 1,
  graceSeconds: 8,
  maxConcurrency: 3,
} as const;
