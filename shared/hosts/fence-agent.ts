/**
 * The BMC power fence's host command: a delegate host (a healthy peer on the victim's BMC network) runs
 * Debian's fence agent for the victim's BMC (`fence_ipmilan`, `fence_redfish`) through SSM Run Command, as
 * Pacemaker runs it: every option on the agent's standard input (`ip=...`, one per line), none on its
 * command line.
 *
 * The command's parameters are non-secret values only (the SSM document's parameters: agent, action, BMC
 * address, port and options, the credential *reference*, region, deadline). The delegate reads the
 * password itself, with its own credentials (the AWS CLI: `secretsmanager get-secret-value` or `ssm
 * get-parameter --with-decryption`), into a shell variable. From there it reaches the agent only through a
 * pipe (fence_redfish: a `password=` line on standard input) or the environment (fence_ipmilan: it would
 * otherwise hand the password to ipmitool as `-P <password>`, on ipmitool's command line, so the agent
 * gets none and ipmitool reads IPMI_PASSWORD with `-E` through a wrapper). It never appears on a command
 * line (`ps`), in a file, or in the output (every answer has any occurrence of it masked).
 *
 * What the script prints, one line each, read by `parseFenceReport` (shared/domain/power-control.ts):
 *   lazarus-fence step=<agent action> exit=<code> at=<ISO time> answer=<the agent's last line>
 *   lazarus-fence result=<on|off|failed|timed-out|no-credentials|expired> at=<ISO time> detail=<text>
 * Exit codes: 0 the action's state confirmed (status: answered), 1 the BMC refused or did not answer,
 * 3 the password could not be read, 4 the agent or the AWS CLI is missing, 5 no confirmation within the
 * deadline, 9 the command arrived after `notAfter` (a stale fence is never carried out).
 */
import { z } from "zod";
import {
  BMC_AGENTS,
  BmcAddress,
  BmcCredentials,
  BmcUsername,
  bmcPort,
  isBmcPowerKind,
  RedfishPath,
} from "../domain/bmc.js";
import { InvalidInput } from "../domain/errors.js";
import type { Host } from "../domain/schemas.js";
import { shellQuote, shellScript } from "./shell.js";
import { validated } from "./validate.js";

/** The agent actions a request may ask for; `cycle` is the agent's `reboot` (off, then on, each confirmed). */
export const FENCE_AGENT_ACTIONS = ["status", "off", "on", "cycle"] as const;
export type FenceAgentAction = (typeof FENCE_AGENT_ACTIONS)[number];

export const AwsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, "an AWS region, e.g. eu-west-1");

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
  cipher: z.number().int().min(0).max(17),
  /** Redfish: verify the BMC's TLS certificate; the system's resource (null: the agent finds it). */
  verifyTls: z.boolean(),
  systemsUri: RedfishPath.nullable(),
  credentials: BmcCredentials,
  /** Where the credential lives (the AWS CLI on the delegate needs it). */
  region: AwsRegion,
  /** How long the script may take to see the state it asks for. */
  deadlineSeconds: z.number().int().min(5).max(600),
  /** Epoch seconds after which the script does nothing (a command delivered late is stale). */
  notAfter: z.number().int().positive(),
});
export type FenceAgentRequest = z.infer<typeof FenceAgentRequest>;

/** The marker every line of the script's report starts with. */
export const FENCE_REPORT_PREFIX = "lazarus-fence";

/**
 * The script's body. Its parameters are shell variables assigned before it (`fenceAgentScript`), each a
 * validated, quoted value; an SSM document puts its `{{ parameters }}` there instead.
 */
const BODY = String.raw`
lz_say() { printf 'lazarus-fence %s\n' "$1"; }
lz_now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
lz_end() { lz_say "result=$1 at=$(lz_now) detail=$2"; exit "$3"; }
umask 077
[ "$(date +%s)" -le "$lz_not_after" ] || lz_end expired "the command reached this host after its deadline: nothing was done" 9
command -v "$lz_agent" >/dev/null 2>&1 || lz_end failed "$lz_agent is not installed on this host (Debian package fence-agents)" 4
command -v aws >/dev/null 2>&1 || lz_end failed "the AWS CLI is not installed on this host: the BMC password cannot be read" 4
lz_work=$(mktemp -d) || lz_end failed "no private folder for the fence agent (mktemp -d)" 4
trap 'rm -rf -- "$lz_work"' EXIT
lz_deadline=$(( $(date +%s) + lz_deadline_seconds ))
lz_power_timeout=$(( lz_deadline_seconds / 3 ))
[ "$lz_power_timeout" -ge 3 ] || lz_power_timeout=3
[ "$lz_power_timeout" -le 20 ] || lz_power_timeout=20

# The BMC password, read with this host's own credentials into a variable (never a command line or a file).
lz_endpoint=()
if [ "$lz_credential_source" = secretsmanager ]; then
  [ -z "${"$"}{AWS_ENDPOINT_URL_SECRETSMANAGER:-}" ] || lz_endpoint=(--endpoint-url "$AWS_ENDPOINT_URL_SECRETSMANAGER")
  lz_secret=$(aws secretsmanager get-secret-value --region "$lz_region" "${"$"}{lz_endpoint[@]}" --secret-id "$lz_credential_id" --query SecretString --output text 2>"$lz_work/err")
  lz_code=$?
else
  [ -z "${"$"}{AWS_ENDPOINT_URL_SSM:-}" ] || lz_endpoint=(--endpoint-url "$AWS_ENDPOINT_URL_SSM")
  lz_secret=$(aws ssm get-parameter --with-decryption --region "$lz_region" "${"$"}{lz_endpoint[@]}" --name "$lz_credential_id" --query Parameter.Value --output text 2>"$lz_work/err")
  lz_code=$?
fi
if [ "$lz_code" -ne 0 ] || [ -z "$lz_secret" ] || [ "$lz_secret" = None ]; then
  lz_say "step=credentials exit=$lz_code at=$(lz_now) answer=$(grep -v '^[[:space:]]*$' "$lz_work/err" | tail -n 1 | tr -c '[:print:]' ' ' | cut -c1-300)"
  lz_end no-credentials "the BMC password could not be read from $lz_credential_source $lz_credential_id with this host's credentials" 3
fi
case "$lz_secret" in
  *$'\n'* | *$'\r'*) lz_end no-credentials "the BMC password holds a line break: a fence agent reads one option per line" 3 ;;
esac

lz_options=("ip=$lz_address" "ipport=$lz_port" "username=$lz_username" "power_timeout=$lz_power_timeout")
if [ "$lz_agent" = fence_ipmilan ]; then
  lz_options+=("lanplus=$lz_lanplus")
  [ "$lz_lanplus" = 0 ] || lz_options+=("cipher=$lz_cipher")
  # fence_ipmilan passes its password to ipmitool as "-P <password>", on ipmitool's command line. It is
  # given none: this wrapper drops the empty -P, and ipmitool reads IPMI_PASSWORD from its environment (-E).
  printf '%s\n' '#!/bin/bash' 'a=()' 'while [ "$#" -gt 0 ]; do' \
    '  if [ "$1" = -P ]; then shift; [ "$#" -eq 0 ] || shift; continue; fi' \
    '  a+=("$1"); shift' 'done' 'exec ipmitool -E "${"$"}{a[@]}"' >"$lz_work/ipmitool"
  chmod 700 "$lz_work/ipmitool"
  lz_options+=("ipmitool_path=$lz_work/ipmitool")
else
  [ "$lz_verify_tls" = 1 ] || lz_options+=("ssl_insecure=1")
  [ -z "$lz_systems_uri" ] || lz_options+=("systems_uri=$lz_systems_uri")
fi

# One agent call, bounded by what is left of the deadline; prints its answer line, returns its exit code.
lz_call() {
  local action=$1 left out code last
  left=$(( lz_deadline - $(date +%s) ))
  [ "$left" -ge 3 ] || left=3
  if [ "$lz_agent" = fence_ipmilan ]; then
    out=$(printf '%s\n' "${"$"}{lz_options[@]}" "action=$action" | IPMI_PASSWORD=$lz_secret timeout -k 2 "$left" "$lz_agent" 2>&1)
  else
    out=$(printf '%s\n' "${"$"}{lz_options[@]}" "action=$action" "password=$lz_secret" | timeout -k 2 "$left" "$lz_agent" 2>&1)
  fi
  code=$?
  out=${"$"}{out//"$lz_secret"/"(secret)"}
  last=$(printf '%s\n' "$out" | grep -v -e DeprecationWarning -e 'from pipes import' -e '^[[:space:]]*$' | tail -n 1 | tr -c '[:print:]' ' ' | cut -c1-300)
  [ "$code" -ne 124 ] || last="no answer within $left s${"$"}{last:+ ($last)}"
  lz_say "step=$action exit=$code at=$(lz_now) answer=$last"
  return "$code"
}

# Status until the BMC says "$1" (fence agents: exit 0 = on, 2 = off), it fails twice, or the deadline.
lz_wait_for() {
  local want=$1 code
  while :; do
    lz_call status
    code=$?
    [ "$want" = off ] && [ "$code" -eq 2 ] && return 0
    [ "$want" = on ] && [ "$code" -eq 0 ] && return 0
    [ "$code" -eq 0 ] || [ "$code" -eq 2 ] || lz_failures=$(( lz_failures + 1 ))
    [ "$lz_failures" -lt 2 ] || return 1
    [ "$(date +%s)" -lt "$lz_deadline" ] || return 2
    sleep 1
  done
}

if [ "$lz_action" = status ]; then
  lz_call status
  case $? in
    0) lz_end on "the BMC says the power is on" 0 ;;
    2) lz_end off "the BMC says the power is off" 0 ;;
    *) lz_end failed "the BMC did not answer the power status" 1 ;;
  esac
fi
lz_want=$lz_action
lz_agent_action=$lz_action
if [ "$lz_action" = cycle ]; then
  lz_want=on
  lz_agent_action=reboot
fi
lz_failures=0
lz_call "$lz_agent_action" || lz_failures=1
lz_wait_for "$lz_want"
case $? in
  0) lz_end "$lz_want" "the BMC says the power is $lz_want" 0 ;;
  1) lz_end failed "the BMC refused the $lz_action or did not answer" 1 ;;
  *) lz_end timed-out "the BMC did not say $lz_want within $lz_deadline_seconds s" 5 ;;
esac
`;

/**
 * The command's parameters as an SSM Command document takes them (strings), by name: what a delegate is
 * sent, all of it non-secret. The script assigns each to its shell variable (`FENCE_AGENT_SHELL_VARS`)
 * before `FENCE_AGENT_BODY`; a document does the same with `{{ name }}` (every value matches its schema
 * above, none holds a quote, so it sits in single quotes as it is).
 */
export function fenceAgentParameters(request: FenceAgentRequest): Record<FenceAgentParameter, string> {
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

/** The shell variable the script's body reads each parameter from. */
export const FENCE_AGENT_SHELL_VARS = {
  agent: "lz_agent",
  action: "lz_action",
  address: "lz_address",
  port: "lz_port",
  username: "lz_username",
  lanplus: "lz_lanplus",
  cipher: "lz_cipher",
  verifyTls: "lz_verify_tls",
  systemsUri: "lz_systems_uri",
  credentialSource: "lz_credential_source",
  credentialId: "lz_credential_id",
  region: "lz_region",
  deadlineSeconds: "lz_deadline_seconds",
  notAfter: "lz_not_after",
} as const;
export type FenceAgentParameter = keyof typeof FENCE_AGENT_SHELL_VARS;

/** The script's fixed part: reads the parameters' shell variables, prints the report, exits with its code. */
export const FENCE_AGENT_BODY = BODY.trim();

/** The delegate's script for `request` (validated): quoted parameter assignments, then the fixed body. */
export function fenceAgentScript(request: FenceAgentRequest): string {
  const params = fenceAgentParameters(request);
  const lines = (Object.keys(FENCE_AGENT_SHELL_VARS) as FenceAgentParameter[]).map(
    (name) => `${FENCE_AGENT_SHELL_VARS[name]}=${shellQuote(params[name])}`,
  );
  // No `set -e`: the agents' exit codes are answers (2 = off), read one by one.
  return shellScript(["set +e", ...lines, FENCE_AGENT_BODY]);
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
  const deadlineSeconds = Math.max(5, Math.min(600, Math.ceil(opts.deadlineSeconds)));
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
