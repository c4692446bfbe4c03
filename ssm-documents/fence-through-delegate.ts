/**
 * The BMC power fence (issue 28), run by a delegate: a healthy peer host on the victim's BMC network runs
 * Debian's fence agent for the victim's BMC (`fence_ipmilan`, `fence_redfish`), as Pacemaker runs it: every
 * option on the agent's standard input (`ip=...`, one per line), none on its command line.
 *
 * Every parameter is a non-secret value (shared/hosts/fence-agent.ts builds them: `fenceAgentParameters`).
 * The BMC password never travels as a parameter: `credentialId` names a Secrets Manager secret or an SSM
 * SecureString parameter, read here with the delegate's own credentials (the AWS CLI) into a shell variable.
 * From there it reaches the agent only through a pipe (fence_redfish: a `password=` line on standard input)
 * or the environment (fence_ipmilan would hand it to ipmitool as `-P <password>`: the agent gets none and
 * ipmitool reads IPMI_PASSWORD with `-E` through a wrapper). It never appears on a command line (`ps`), in a
 * file, or in the output (every answer has any occurrence of it masked).
 *
 * What the script prints, one line each, read by `parseFenceReport` (shared/domain/power-control.ts):
 *   lazarus-fence step=<agent action> exit=<code> at=<ISO time> answer=<the agent's last line>
 *   lazarus-fence result=<on|off|failed|timed-out|no-credentials|expired> at=<ISO time> detail=<text>
 * Exit codes: 0 the action's state confirmed (status: answered), 1 the BMC refused or did not answer,
 * 3 the password could not be read, 4 the agent or the AWS CLI is missing, 5 no confirmation within the
 * deadline, 9 the command arrived after `notAfter` (a stale fence is never carried out); 64 a parameter
 * outside its pattern (document.ts).
 */
import {
  BMC_ADDRESS_MAX_CHARS,
  BMC_ADDRESS_PATTERN,
  BMC_CIPHER_PATTERN,
  BMC_CREDENTIAL_ID_PATTERN,
  BMC_USERNAME_PATTERN,
  FENCE_DEADLINE_PATTERN,
  FENCE_MAX_EXECUTION_SECONDS,
  OPTIONAL_REDFISH_PATH_PATTERN,
  REDFISH_PATH_MAX_CHARS,
  SSM_PARAMETER_NAME_MAX_CHARS,
} from "#shared/domain/bmc.js";
import { AWS_REGION_PATTERN, PORT_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";

/** The shell variable the script's body reads each parameter from. */
const SHELL_VARS = {
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
export type FenceParameter = keyof typeof SHELL_VARS;

/**
 * The script's body: reads the parameters' shell variables, prints the report, exits with its code. (A
 * function: a tagged template is a call, which would run when the module loads.)
 */
const body = () => String.raw`
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

export const FENCE_THROUGH_DELEGATE: HostDocument<FenceParameter> = {
  id: "fence-through-delegate",
  description:
    "Lazarus: power-fence (status, off, on, cycle) another host through its BMC with the standard fence agent; the BMC password is read here from Secrets Manager or an SSM SecureString.",
  parameters: {
    agent: {
      description: "The fence agent: fence_ipmilan or fence_redfish.",
      allowedPattern: "^(fence_ipmilan|fence_redfish)$",
      maxChars: 13,
    },
    action: {
      description: "status, off, on or cycle (the agent's reboot).",
      allowedPattern: "^(status|off|on|cycle)$",
      maxChars: 6,
    },
    address: {
      description: "The BMC's host name, IPv4 or IPv6 address.",
      allowedPattern: BMC_ADDRESS_PATTERN,
      maxChars: BMC_ADDRESS_MAX_CHARS,
    },
    port: { description: "The BMC's port.", allowedPattern: PORT_PATTERN, maxChars: 5 },
    username: {
      description: "The BMC account (not a secret).",
      allowedPattern: BMC_USERNAME_PATTERN,
      maxChars: 64,
    },
    lanplus: { description: "IPMI: RMCP+ (1) or not (0).", allowedPattern: "^(0|1)$", maxChars: 1 },
    cipher: {
      description: "IPMI: the RMCP+ cipher suite.",
      allowedPattern: BMC_CIPHER_PATTERN,
      maxChars: 2,
    },
    verifyTls: {
      description: "Redfish: verify the BMC's TLS certificate (1) or not (0).",
      allowedPattern: "^(0|1)$",
      maxChars: 1,
    },
    systemsUri: {
      description: "Redfish: the system's resource, e.g. /redfish/v1/Systems/1 (empty: the agent finds it).",
      allowedPattern: OPTIONAL_REDFISH_PATH_PATTERN,
      maxChars: REDFISH_PATH_MAX_CHARS,
    },
    credentialSource: {
      description: "Where the BMC password is kept: secretsmanager or ssm-parameter.",
      allowedPattern: "^(secretsmanager|ssm-parameter)$",
      maxChars: 14,
    },
    credentialId: {
      description:
        "The secret's name or ARN, or the SecureString parameter's name or ARN (never the password).",
      allowedPattern: BMC_CREDENTIAL_ID_PATTERN,
      maxChars: SSM_PARAMETER_NAME_MAX_CHARS,
    },
    region: {
      description: "The region of the credential (the AWS CLI's --region).",
      allowedPattern: AWS_REGION_PATTERN,
      maxChars: 32,
    },
    deadlineSeconds: {
      description: "Seconds the fence may take to see the state it asks for.",
      allowedPattern: FENCE_DEADLINE_PATTERN,
      maxChars: 3,
    },
    notAfter: {
      description: "Epoch seconds after which the command does nothing (a fence delivered late is stale).",
      allowedPattern: "^[1-9][0-9]{0,15}$",
      maxChars: 16,
    },
  },
  script: () => [
    // No `set -e`: the agents' exit codes are answers (2 = off), read one by one.
    "set +e",
    ...Object.entries(SHELL_VARS).map(([name, variable]) => `${variable}="$${name}"`),
    body().trim(),
  ],
  // The caller sets its own (fenceAgentExecutionSeconds).
  executionTimeoutSeconds: FENCE_MAX_EXECUTION_SECONDS,
};
