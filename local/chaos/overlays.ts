/**
 * The overlays a chaos round may lay over its disruption: faults of the machinery around the flows, each
 * drawn with its details from the round's generator, each undone when the round ends (`clearOverlays`).
 *
 *   ssm       `virsh`/`qemu-img` on some hosts fail, or hang after doing their work
 *   dynamo    throttling, 5xx and lost answers from DynamoDB (the fault proxy's rates)
 *   crash     step Lambdas crash after their work (`Lambda.Unknown`), so the machines' Retry runs them again
 *   requests  concurrent rebuild/evacuate requests on a few instances, beside the disruption
 *   fence     every BMC refuses the fence's power control, or accepts it and never carries it out, for a while
 *   skew      one or two hosts' clocks run ahead or behind, within the documented bound: the lease margin
 *             (LAZARUS_LEASE_MARGIN_SECONDS) minus the feed window (heartbeat.feedWithinSeconds), less 1 s for
 *             the simulated reset to kill the machine's processes
 */
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import type { LocalCloud } from "../cloud.js";
import type { DynamoFaultRates } from "../dynamo/fault-proxy.js";
import { seededRandom } from "../seeded-random.js";
import { machineOf, type RoundContext } from "./round.js";

export const OVERLAYS = ["ssm", "dynamo", "crash", "requests", "fence", "skew"] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** Host commands a fault can hit, with the modes that make sense for each. */
const COMMAND_FAULTS: { command: "virsh" | "qemu-img"; arg: string; modes: ("fail" | "hang-after")[] }[] = [
  { command: "virsh", arg: "start", modes: ["fail", "hang-after"] },
  { command: "virsh", arg: "define", modes: ["fail", "hang-after"] },
  { command: "virsh", arg: "destroy", modes: ["fail"] },
  { command: "virsh", arg: "undefine", modes: ["fail"] },
  { command: "virsh", arg: "domstate", modes: ["fail"] },
  { command: "qemu-img", arg: "create", modes: ["fail"] },
];
/** The Lambdas a crash hook may hit: the machines' steps (the API and the triggers answer their caller directly). */
const STEP_FUNCTIONS = new Set(ALL_FUNCTIONS.filter((f) => f.role === "step").map((f) => `lazarus-${f.id}`));

/** Lays the overlay on; returns what it did (for the round's record) and, if it has one, its early end. */
export function applyOverlay(ctx: RoundContext, overlay: Exclude<Overlay, "requests">): () => void {
  const end = OVERLAY[overlay](ctx);
  return end ?? (() => undefined);
}

const OVERLAY: Record<Exclude<Overlay, "requests">, (ctx: RoundContext) => (() => void) | undefined> = {
  ssm: ssmOverlay,
  dynamo: dynamoOverlay,
  crash: crashOverlay,
  fence: fenceOverlay,
  skew: skewOverlay,
};

function say(ctx: RoundContext, overlay: Overlay, what: string): void {
  ctx.record.overlays[overlay] = what;
  ctx.log(`  ${overlay}: ${what}`);
}

function ssmOverlay(ctx: RoundContext): undefined {
  const up = [...ctx.cloud.fleet.hosts.values()].filter((h) => h.running);
  const what: string[] = [];
  for (const host of ctx.rnd.sample(up, ctx.rnd.int(1, 2))) {
    const f = ctx.rnd.pick(COMMAND_FAULTS);
    const mode = ctx.rnd.pick(f.modes);
    host.injectCommandFault(f.command, f.arg, `chaos: ${f.command} ${f.arg}`, mode);
    what.push(`${host.name}: ${f.command} ${f.arg} will ${mode === "fail" ? "fail" : "hang after its work"}`);
    ctx.fault(`ssm-${mode}`);
  }
  say(ctx, "ssm", what.join("; "));
  return undefined;
}

function dynamoOverlay(ctx: RoundContext): undefined {
  const rates: DynamoFaultRates = {
    throttle: ctx.rnd.int(0, 8) / 100,
    throughput: ctx.rnd.int(0, 4) / 100,
    "server-error": ctx.rnd.int(0, 4) / 100,
    "lost-response": ctx.rnd.int(0, 3) / 100,
  };
  ctx.cloud.dynamoFaults?.configure(rates, { seed: ctx.rnd.int(0, 2 ** 31) });
  say(
    ctx,
    "dynamo",
    Object.entries(rates)
      .map(([k, v]) => `${k} ${Math.round((v ?? 0) * 100)}%`)
      .join(", "),
  );
  return undefined;
}

function crashOverlay(ctx: RoundContext): undefined {
  const p = ctx.rnd.int(5, 15) / 100;
  // Its own generator: how many invocations a round makes varies with timing, the round's draws must not.
  const crashes = seededRandom(ctx.rnd.int(0, 2 ** 31));
  ctx.cloud.lambda.setHooks({
    afterInvoke(name) {
      if (!STEP_FUNCTIONS.has(name) || !crashes.chance(p)) return;
      ctx.fault("lambda-crash");
      const e = new Error(`chaos: ${name} crashed after its work`);
      e.name = "Lambda.Unknown";
      throw e;
    },
  });
  say(ctx, "crash", `step Lambdas crash after their work with p=${p}`);
  return undefined;
}

/**
 * The power fence fails (every BMC refuses the chassis control) or hangs (accepted, never carried out: the
 * fence times out) for a drawn while, then works again: instances wait "fencing required" meanwhile, and a
 * later fence round finishes them. Counted per power-off that met the fault.
 */
function fenceOverlay(ctx: RoundContext): () => void {
  const { cloud, rnd } = ctx;
  const mode = rnd.pick(["fail", "hang"] as const);
  const forMs = rnd.int(5_000, 20_000);
  say(
    ctx,
    "fence",
    `the BMCs ${mode === "fail" ? "refuse" : "hang on"} power controls for ${Math.round(forMs / 1000)} s`,
  );
  const controlsBefore = cloud.bmcs.controls.length;
  cloud.bmcs.setFault(null, { mode });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    cloud.bmcs.setFault(null, null);
    const met = cloud.bmcs.controls.slice(controlsBefore).filter((c) => c.power === "off" && c.fault).length;
    if (met > 0) ctx.fault(`fence-${mode}`, met);
  };
  const timer = setTimeout(end, forMs);
  return end;
}

/** One or two hosts' clocks skewed within the bound for the round (the machine's clock file). */
function skewOverlay(ctx: RoundContext): () => void {
  const { cloud, rnd } = ctx;
  const bound = ctx.settings.skewBoundMs;
  const hosts = rnd.sample([...cloud.fleet.hosts.keys()], rnd.int(1, 2));
  const what: string[] = [];
  for (const h of hosts) {
    const offset = rnd.int(-bound, bound);
    machineOf(cloud, h).setClockOffset(offset);
    what.push(`${h} ${offset >= 0 ? "+" : ""}${offset} ms`);
    ctx.fault(offset >= 0 ? "skew-ahead" : "skew-behind");
  }
  say(ctx, "skew", `clocks off by ${what.join(", ")} (bound ±${bound} ms)`);
  return () => {
    for (const h of hosts) machineOf(cloud, h).setClockOffset(0);
  };
}

/** Undoes every overlay (and any per-host fault a disruption left). */
export function clearOverlays(cloud: LocalCloud): void {
  cloud.dynamoFaults?.configure({});
  cloud.lambda.setHooks(undefined);
  cloud.bmcs.setFault(null, null);
  for (const h of cloud.fleet.hosts.values()) h.clearFaults();
  for (const m of cloud.fleet.machines.values()) m.setClockOffset(0);
}
