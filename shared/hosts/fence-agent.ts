/**
 * The BMC power fence's host command: a delegate host (a healthy peer on the victim's BMC network) runs the
 * stack's fence-through-delegate document (ssm-documents/fence-through-delegate.ts: Debian's fence agent
 * for the victim's BMC, every option on its standard input, the password read on the delegate itself).
 *
 * The command's parameters are non-secret values only (agent, action, BMC address, port and options, the
 * credential *reference*, region, deadline); they appear in the command's history. The report the
 * document prints is read by `parseFenceReport` (shared/domain/power-control.ts).
 */
import { z } from "zod";
import { FENCE_THROUGH_DELEGATE, type FenceParameter } from "#ssm-documents/fence-through-delegate.js";
import {
  BMC_AGENTS,
  BMC_CIPHER_MAX,
  BmcAddress,
  BmcCredentials,
  BmcUsername,
  bmcPort,
  FENCE_DEADLINE_SECONDS,
  isBmcPowerKind,
  RedfishPath,
} from "../domain/bmc.js";
import { InvalidInput } from "../domain/errors.js";
import type { Host } from "../domain/schemas.js";
import { AWS_REGION_PATTERN } from "../domain/values.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { validated } from "./validate.js";

/** The agent actions a request may ask for; `cycle` is the agent's `reboot` (off, then on, each confirmed). */
export const FENCE_AGENT_ACTIONS = ["status", "off", "on", "cycle"] as const;
export type FenceAgentAction = (typeof FENCE_AGENT_ACTIONS)[number];

export const AwsRegion = z.string().regex(new RegExp(AWS_REGION_PATTERN), "an AWS region, e.g. eu-west-1");

/**
 * Everything the command needs, all of it safe to show: these are the SSM document's parameters (each
 * pattern below can be its `allowedPattern`), and they appear in the command's history.
 */
export const FenceAgentRequest = z.strictObject({
  agent: z.enum(["fence_ipmilan", "fence_redfish"]),
  action: z.enum(FENCE_AGENT_ACTIONS),
  address: BmcAddress,
  port: z.number().int().min(1).max(65535),
  username: BmcUsername,
  /** IPMI: RMCP+ (IPMI 2.0) and its cipher suite. */
  lanplus: z.boolean(),
  cipher: z.number().int().min(0).max(BMC_CIPHER_MAX),
  /** Redfish: verify the BMC's TLS certificate; the system's resource (null: the agent finds it). */
  verifyTls: z.boolean(),
  systemsUri: RedfishPath.nullable(),
  credentials: BmcCredentials,
  /** Where the credential lives (the AWS CLI on the delegate needs it). */
  region: AwsRegion,
  /** How long the script may take to see the state it asks for. */
  deadlineSeconds: z.number().int().min(FENCE_DEADLINE_SECONDS.min).max(FENCE_DEADLINE_SECONDS.max),
  /** Epoch seconds after which the script does nothing (a command delivered late is stale). */
  notAfter: z.number().int().positive(),
});
export type FenceAgentRequest = z.infer<typeof FenceAgentRequest>;

/** The marker every line of the script's report starts with. */
export const FENCE_REPORT_PREFIX = "lazarus-fence";

/**
 * The command's parameters as the SSM document takes them (strings), by name: what a delegate is sent, all
 * of it non-secret (each value also matches the document's `allowedPattern`: hostCommand checks it).
 */
export function fenceAgentParameters(request: FenceAgentRequest): Record<FenceParameter, string> {
  const r = validated(FenceAgentRequest, "fenceAgentRequest", request);
  const secretsManager = "secretsManager" in r.credentials ? r.credentials.secretsManager : null;
  return {
    agent: r.agent,
    action: r.action,
    address: r.address,
    port: String(r.port),
    username: r.username,
    lanplus: r.lanplus ? "1" : "0",
    cipher: String(r.cipher),
    verifyTls: r.verifyTls ? "1" : "0",
    systemsUri: r.systemsUri ?? "",
    credentialSource: secretsManager !== null ? "secretsmanager" : "ssm-parameter",
    credentialId: secretsManager ?? ("ssmParameter" in r.credentials ? r.credentials.ssmParameter : ""),
    region: r.region,
    deadlineSeconds: String(r.deadlineSeconds),
    notAfter: String(r.notAfter),
  };
}

/** The delegate's command for `request` (validated): the fence-through-delegate document and its values. */
export function fenceThroughDelegate(request: FenceAgentRequest): HostCommand {
  return hostCommand(FENCE_THROUGH_DELEGATE, fenceAgentParameters(request));
}

/** Seconds the command may run on the delegate: the deadline, plus the agent's own kill margin and the CLI. */
export function fenceAgentExecutionSeconds(request: Pick<FenceAgentRequest, "deadlineSeconds">): number {
  return request.deadlineSeconds + 30;
}

/** The request for `action` on `host`'s BMC (power `ipmi` or `redfish`), its deadline counted from `now`. */
export function fenceAgentRequestFor(
  host: Pick<Host, "name" | "fencing">,
  action: FenceAgentAction,
  opts: { region: string; deadlineSeconds: number; deliverySeconds: number; now: Date },
): FenceAgentRequest {
  const { power, bmc } = host.fencing;
  if (!isBmcPowerKind(power) || !bmc)
    throw new InvalidInput(`host ${host.name} has no BMC power fence (fencing.power is ${power})`, {
      host: host.name,
    });
  const deadlineSeconds = Math.max(
    FENCE_DEADLINE_SECONDS.min,
    Math.min(FENCE_DEADLINE_SECONDS.max, Math.ceil(opts.deadlineSeconds)),
  );
  return {
    agent: BMC_AGENTS[power],
    action,
    address: bmc.address,
    port: bmcPort(power, bmc),
    username: bmc.username,
    lanplus: bmc.lanplus,
    cipher: bmc.cipher,
    verifyTls: bmc.verifyTls,
    systemsUri: bmc.systemsUri,
    credentials: bmc.credentials,
    region: opts.region,
    deadlineSeconds,
    notAfter: Math.floor(opts.now.getTime() / 1000) + Math.ceil(opts.deliverySeconds),
  };
}
