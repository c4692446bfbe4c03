/**
 * Power control of a host through its BMC, the decisions only (pure, as shared/domain/fencing.ts): which
 * peers may be the *delegate* that runs the fence agent, in which order, and what the agent's report on a
 * delegate says (shared/hosts/fence-agent.ts prints it). The Lambdas and the API carry them out
 * (shared/flow/host-power.ts).
 *
 * A Lambda usually cannot reach a BMC network; a healthy peer on the victim's BMC network can. A delegate
 * must be another host, enabled, up (its heartbeat fresh, not forced down, no open incident), and reach
 * the victim's BMC network (`fencing.bmcNetworks`). One that cannot run the agent (unreachable, timed out,
 * no credentials, BMC unreachable from it) is passed over for the next; none at all is "unavailable",
 * never "off".
 */
import { isHostUp } from "./host-liveness.js";
import type { Host, PowerAnswer, PowerOutcome } from "./schemas.js";

const OPEN_INCIDENT: readonly string[] = ["confirming", "evacuating", "held"];

export interface DelegateChoice {
  /** Host names to try, in order. */
  delegates: string[];
  /** Peers on the BMC network that may not be delegates now, and why. */
  passedOver: { host: string; reason: string }[];
  /** Why there is nobody to try (when `delegates` is empty). */
  reason: string;
}

/**
 * The delegates for `victim`'s BMC among `fleet`, in the order to try them: by name (a fixed order, so a
 * repeated fence reaches the same delegate first and its answers read in one place).
 */
export function chooseDelegates(
  victim: Pick<Host, "name" | "fencing">,
  fleet: readonly Host[],
  now: Date,
  serviceDownSeconds: number,
): DelegateChoice {
  const network = victim.fencing.bmc?.network;
  if (!network) return { delegates: [], passedOver: [], reason: `host ${victim.name} has no BMC` };
  const delegates: string[] = [];
  const passedOver: DelegateChoice["passedOver"] = [];
  for (const h of [...fleet].sort((a, b) => a.name.localeCompare(b.name))) {
    if (h.name === victim.name || !h.fencing.bmcNetworks.includes(network)) continue;
    const why = !h.enabled
      ? "disabled"
      : h.forcedDown
        ? "forced down"
        : !isHostUp(h, now, serviceDownSeconds)
          ? "down (its heartbeat is not fresh)"
          : h.incident && OPEN_INCIDENT.includes(h.incident.status)
            ? `in incident ${h.incident.id} (${h.incident.status})`
            : null;
    if (why) passedOver.push({ host: h.name, reason: why });
    else delegates.push(h.name);
  }
  const reason =
    delegates.length > 0
      ? `${delegates.length} delegate(s) on BMC network ${network}`
      : passedOver.length > 0
        ? `no delegate on BMC network ${network}: ${passedOver.map((p) => `${p.host} ${p.reason}`).join(", ")}`
        : `no other host reaches BMC network ${network} (fencing.bmcNetworks)`;
  return { delegates, passedOver, reason };
}

/** The script's final word (`lazarus-fence result=...`). */
export const FENCE_RESULTS = ["on", "off", "failed", "timed-out", "no-credentials", "expired"] as const;
export type FenceResult = (typeof FENCE_RESULTS)[number];

export interface FenceReport {
  /** The agent calls (and a failed credential read), in order, with their times. */
  answers: PowerAnswer[];
  /** The final word; null when the script printed none (it was killed, or is not ours). */
  result: { result: FenceResult; at: string; detail: string } | null;
}

const LINE = /^lazarus-fence (step|result)=(\S+) (?:exit=(-?\d+) )?at=(\S+) (answer|detail)=(.*)$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Reads the fence script's report from its output; lines that are not the report are ignored. */
export function parseFenceReport(stdout: string, delegate: string): FenceReport {
  const report: FenceReport = { answers: [], result: null };
  for (const raw of stdout.split("\n")) {
    const m = LINE.exec(raw.trimEnd());
    if (!m || !ISO.test(m[4]!)) continue;
    const [, kind, value, exit, at, , text] = m;
    if (kind === "step") {
      report.answers.push({
        delegate,
        step: value!.slice(0, 40),
        at: at!,
        exitCode: exit === undefined ? null : Number(exit),
        answer: text!.slice(0, 400),
      });
    } else if ((FENCE_RESULTS as readonly string[]).includes(value!)) {
      report.result = { result: value as FenceResult, at: at!, detail: text!.slice(0, 1000) };
    }
  }
  return report;
}

/** What a delegate's result means for the action: its outcome, and whether the next delegate may do better. */
export function delegateOutcome(result: FenceReport["result"]): { outcome: PowerOutcome; tryNext: boolean } {
  switch (result?.result) {
    case "on":
    case "off":
      return { outcome: result.result, tryNext: false };
    case "timed-out":
      return { outcome: "timed-out", tryNext: true };
    default:
      // Refused, unreachable from this delegate, no credentials here, stale, or no report at all.
      return { outcome: "failed", tryNext: true };
  }
}

/** The power actions an operator asks for through the API and the CLI. */
export const OPERATOR_POWER_ACTIONS = ["status", "off", "on", "cycle", "fence-test"] as const;
export type OperatorPowerAction = (typeof OPERATOR_POWER_ACTIONS)[number];

/**
 * Why an operator's power action may not be carried out now (null: it may). Off and cycle cut the power of
 * whatever runs there: only a disabled host (nothing is placed on it meanwhile), and only with `force`
 * while instances are on it (their host-evacuation then recovers them elsewhere, on proof `power`).
 */
export function powerActionRefusal(
  host: Pick<Host, "name" | "enabled" | "claims" | "fencing">,
  action: OperatorPowerAction,
  opts: { force: boolean },
): string | null {
  if (host.fencing.power === "none")
    return `host ${host.name} has no power fence (fencing.power none): register it with its BMC (ipmi, redfish) or as an EC2 host`;
  if (action !== "off" && action !== "cycle") return null;
  if (host.enabled)
    return `host ${host.name} is enabled: disable it first (lazarus host disable ${host.name}), so nothing is placed on it while its power is cut`;
  const instances = Object.keys(host.claims).length;
  if (instances > 0 && !opts.force)
    return `host ${host.name} holds ${instances} instance(s): their guests lose power with it; ask again with force to power it off anyway (its host-evacuation then recovers them elsewhere)`;
  return null;
}

/** Did the action get what it asked for: status and fence tests an answer, off "off", on and cycle "on". */
export function powerActionSucceeded(action: OperatorPowerAction | "fence", outcome: PowerOutcome): boolean {
  switch (action) {
    case "status":
    case "fence-test":
      return outcome === "on" || outcome === "off";
    case "off":
    case "fence":
      return outcome === "off";
    default:
      return outcome === "on";
  }
}
