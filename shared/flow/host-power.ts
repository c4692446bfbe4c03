/**
 * Power control of a host, carried out: the host-evacuation's fence (off) and an operator's power status,
 * off, on, cycle and fence test, through the host's own power fence (`fencing.power`):
 *  - `ipmi` / `redfish`: the fence agent (fence_ipmilan / fence_redfish) on a delegate host, through SSM
 *    Run Command (shared/hosts/fence-agent.ts): the delegates `chooseDelegates` picks, in order, until one
 *    gets an answer from the BMC that settles it (shared/domain/power-control.ts). None fits, or none
 *    could run it: `unavailable`, never `off`.
 *  - `ec2` / `local`: the EC2 API from here (StopInstances with Force, StartInstances, DescribeInstances
 *    until the state is reached, judged by `judgeFence`).
 *  - `none`: `unsupported`.
 * Every action ends in a `PowerRecord` (the method, the delegate, every answer with its time) that is added
 * to the host's power log: what the evacuation report, the API and the CLI show.
 */
import { z } from "zod";
import { judgeFence } from "../domain/fencing.js";
import {
  chooseDelegates,
  type DelegateChoice,
  delegateOutcome,
  OPERATOR_POWER_ACTIONS,
  parseFenceReport,
} from "../domain/power-control.js";
import type { Host, PowerAction, PowerAnswer, PowerOutcome, PowerRecord } from "../domain/schemas.js";
import { ResourceName, Uuid } from "../domain/values.js";
import type { HostExecutor } from "../hosts/executor.js";
import {
  type FenceAgentAction,
  fenceAgentExecutionSeconds,
  fenceAgentRequestFor,
  fenceAgentScript,
} from "../hosts/fence-agent.js";
import { hostTarget } from "../hosts/layout.js";
import type { PowerFence } from "../hosts/power-fence.js";
import type { HostsStore } from "../store/hosts-store.js";

export interface HostPowerDeps {
  stores: { hosts: HostsStore };
  executor: HostExecutor;
  /** The `ec2` fence (locally the local cloud's EC2 endpoint). */
  ec2: PowerFence;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** The region the BMC credentials live in: the delegate's AWS CLI reads them there. */
  region: string;
  /** A delegate's heartbeat older than this is not fresh (nova's service_down_time). */
  serviceDownSeconds: number;
  /** How often the EC2 path looks at the instance's state, ms. */
  pollMs: number;
  /** Delegates tried per action at most (each may take the whole deadline). */
  maxDelegates: number;
}

export interface PowerRequest {
  action: PowerAction;
  /** The request id (API) or `<incident>/fence-<round>`. */
  id: string;
  requestedBy: string;
  /** How long the power controller has to confirm the state asked for, per delegate, s. */
  deadlineSeconds: number;
}

/**
 * An operator's power action, as the API hands it to the host-power function (functions/host-power),
 * which carries it out and records it in the host's power log under `requestId`.
 */
export const HostPowerRequest = z.strictObject({
  host: ResourceName,
  action: z.enum(OPERATOR_POWER_ACTIONS),
  requestId: Uuid,
  requestedBy: z.string().min(1).max(300),
  /** Off or cycle of a host that still holds instances (see `powerActionRefusal`). */
  force: z.boolean().default(false),
});
export type HostPowerRequest = z.infer<typeof HostPowerRequest>;

/** SSM delivery, the AWS CLI's start and the secret read, on top of the agent's own deadline, s. */
const DELEGATE_OVERHEAD_SECONDS = 20;

/** The agent action each request asks for. */
const AGENT_ACTION: Record<PowerAction, FenceAgentAction> = {
  status: "status",
  "fence-test": "status",
  off: "off",
  fence: "off",
  on: "on",
  cycle: "cycle",
};

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

interface Ended {
  outcome: PowerOutcome;
  delegate: string | null;
  detail: string;
  answers: PowerAnswer[];
}

/** Carries out `req` on `host`'s power and records it in the host's power log; returns the record. */
export async function controlHostPower(
  deps: HostPowerDeps,
  host: Host,
  req: PowerRequest,
): Promise<PowerRecord> {
  const startedAt = deps.now().toISOString();
  const { power } = host.fencing;
  const ended: Ended =
    power === "ipmi" || power === "redfish"
      ? await throughDelegates(deps, host, req)
      : power === "ec2" || power === "local"
        ? await throughEc2(deps, host, req)
        : {
            outcome: "unsupported",
            delegate: null,
            detail: `host ${host.name} has no power fence (fencing.power none)`,
            answers: [],
          };
  const record: PowerRecord = {
    id: req.id,
    action: req.action,
    requestedBy: req.requestedBy,
    method: power,
    outcome: ended.outcome,
    delegate: ended.delegate,
    startedAt,
    endedAt: deps.now().toISOString(),
    detail: ended.detail.slice(0, 2000),
    answers: ended.answers.slice(-60),
  };
  await deps.stores.hosts.recordPower(host.name, record);
  return record;
}

/** Members of a BMC network read per page while looking for delegates. */
const DELEGATE_PAGE = 10;
/** At most this many members of the network are read (then the choice says who was passed over). */
const MAX_DELEGATE_CANDIDATES = 50;

/**
 * The delegates for `victim`'s BMC (`chooseDelegates` over the peers that reach its BMC network): the
 * network's members from the fleet table, by name, a page at a time, each re-read by key, until `want` of
 * them may be delegates now (or MAX_DELEGATE_CANDIDATES were read). Never a read of every host.
 */
export async function delegatesFor(
  deps: Pick<HostPowerDeps, "stores" | "now" | "serviceDownSeconds">,
  victim: Host,
  want: number,
): Promise<{ choice: DelegateChoice; peers: Host[] }> {
  const network = victim.fencing.bmc?.network;
  const peers: Host[] = [];
  let choice = chooseDelegates(victim, peers, deps.now(), deps.serviceDownSeconds);
  if (!network) return { choice, peers };
  let after: string | undefined;
  for (let read = 0; read < MAX_DELEGATE_CANDIDATES; ) {
    const page = await deps.stores.hosts.fleet.bmcNetworkMembers(network, {
      limit: Math.min(DELEGATE_PAGE, MAX_DELEGATE_CANDIDATES - read),
      ...(after ? { after } : {}),
    });
    read += page.hosts.length;
    after = page.hosts.at(-1);
    peers.push(...(await deps.stores.hosts.getMany(page.hosts.filter((h) => h !== victim.name))));
    choice = chooseDelegates(victim, peers, deps.now(), deps.serviceDownSeconds);
    if (!page.more || choice.delegates.length >= want) break;
  }
  return { choice, peers };
}

async function throughDelegates(deps: HostPowerDeps, host: Host, req: PowerRequest): Promise<Ended> {
  const { choice, peers: fleet } = await delegatesFor(deps, host, deps.maxDelegates);
  const what = `${host.fencing.power} ${AGENT_ACTION[req.action]} of ${host.name}`;
  if (choice.delegates.length === 0)
    return {
      outcome: "unavailable",
      delegate: null,
      detail: `fence unavailable: ${choice.reason}`,
      answers: [],
    };
  const answers: PowerAnswer[] = [];
  const tried: string[] = [];
  // The BMC's own answer through a delegate says more than a delegate that could not run the agent.
  let answered: Ended | null = null;
  let undelivered: Ended | null = null;
  for (const name of choice.delegates.slice(0, deps.maxDelegates)) {
    const delegate = fleet.find((h) => h.name === name)!;
    tried.push(name);
    const request = fenceAgentRequestFor(host, AGENT_ACTION[req.action], {
      region: deps.region,
      deadlineSeconds: req.deadlineSeconds,
      deliverySeconds: DELEGATE_OVERHEAD_SECONDS,
      now: deps.now(),
    });
    let stdout: string;
    try {
      const run = await deps.executor.probe(hostTarget(delegate), fenceAgentScript(request), {
        comment: `lazarus power ${req.action} ${host.name}`,
        executionTimeoutSeconds: fenceAgentExecutionSeconds(request),
        deadlineMs: (request.deadlineSeconds + DELEGATE_OVERHEAD_SECONDS) * 1000,
      });
      stdout = run.stdout;
    } catch (e) {
      // The delegate could not run it (agent unreachable, timed out): the next one may.
      const answer = errorText(e).slice(0, 400);
      answers.push({
        delegate: name,
        step: "delivery",
        at: deps.now().toISOString(),
        exitCode: null,
        answer,
      });
      undelivered = {
        outcome: "unavailable",
        delegate: name,
        detail: `delegate ${name}: ${answer}`,
        answers,
      };
      continue;
    }
    const report = parseFenceReport(stdout, name);
    answers.push(...report.answers);
    const { outcome, tryNext } = delegateOutcome(report.result);
    const detail = `${what} through ${name}: ${report.result ? `${report.result.result}: ${report.result.detail}` : "the fence agent's script gave no result"}`;
    answered = { outcome, delegate: name, detail, answers };
    if (!tryNext) break;
  }
  const last = answered ?? undelivered;
  if (!last)
    return { outcome: "unavailable", delegate: null, detail: `fence unavailable: ${choice.reason}`, answers };
  const passed = choice.passedOver.map((p) => `${p.host} ${p.reason}`);
  const notes = [
    tried.length > 1 ? `tried ${tried.join(", ")}` : "",
    passed.length > 0 ? `passed over ${passed.join(", ")}` : "",
  ].filter(Boolean);
  return { ...last, detail: notes.length > 0 ? `${last.detail} (${notes.join("; ")})` : last.detail };
}

/** The EC2 state each wanted power state is. */
const EC2_STATE = { on: "running", off: "stopped" } as const;

async function throughEc2(deps: HostPowerDeps, host: Host, req: PowerRequest): Promise<Ended> {
  const id = host.managedInstanceId;
  const answers: PowerAnswer[] = [];
  const note = (step: string, answer: string) =>
    answers.push({
      delegate: null,
      step,
      at: deps.now().toISOString(),
      exitCode: null,
      answer: answer.slice(0, 400),
    });
  const describe = async (): Promise<string> => {
    try {
      return await deps.ec2.powerState(id);
    } catch (e) {
      return `unknown (${errorText(e)})`;
    }
  };
  /** Asks for `want`, then looks until the instance is in it; judged by `judgeFence` (its timing rule). */
  const reach = async (want: "on" | "off"): Promise<Ended> => {
    const call = want === "off" ? "StopInstances" : "StartInstances";
    const started = deps.now();
    try {
      if (want === "off") await deps.ec2.requestPowerOff(id);
      else await deps.ec2.requestPowerOn(id);
      note(call, want === "off" ? "accepted (Force)" : "accepted");
    } catch (e) {
      note(call, `refused: ${errorText(e)}`);
      return {
        outcome: "failed",
        delegate: null,
        detail: `${call}(${id}) refused: ${errorText(e)}`,
        answers,
      };
    }
    let seen = "";
    for (;;) {
      const now = await describe();
      if (now !== seen) note("DescribeInstances", now);
      seen = now;
      const reached = seen === EC2_STATE[want];
      const judged = judgeFence(
        started,
        reached ? { outcome: "off", at: deps.now(), detail: `${id} ${seen}` } : null,
        deps.now(),
        { fenceTimeoutSeconds: req.deadlineSeconds },
      );
      if (judged?.outcome === "off")
        return { outcome: want, delegate: null, detail: `${id} ${seen} (ec2:${call})`, answers };
      if (judged)
        return {
          outcome: "timed-out",
          delegate: null,
          detail: `${judged.detail}; ${id} is ${seen}`,
          answers,
        };
      await deps.sleep(deps.pollMs);
    }
  };
  const action = AGENT_ACTION[req.action];
  if (action === "status") {
    const seen = await describe();
    note("DescribeInstances", seen);
    const outcome = seen === "running" ? "on" : seen === "stopped" ? "off" : "failed";
    return { outcome, delegate: null, detail: `${id} is ${seen}`, answers };
  }
  if (action === "cycle") {
    const off = await reach("off");
    return off.outcome === "off" ? reach("on") : off;
  }
  return reach(action);
}
