/**
 * A host's baseboard management controller (BMC) as the power fence reaches it: its address, the fence
 * agent's options, and where its password is kept. Only a *reference* to the password is ever stored (a
 * Secrets Manager secret or an SSM SecureString parameter); the delegate host that runs the fence agent
 * reads the value itself, with its own credentials (shared/hosts/fence-agent.ts). The password is never in
 * a host record, an execution's input or history, a log line, a command line or an API answer.
 */
import { z } from "zod";
import { integerRangePattern, ResourceName } from "./values.js";

/** The fence agents (Debian's fence-agents) by power fence kind; each reads its options from standard input. */
export const BMC_AGENTS = { ipmi: "fence_ipmilan", redfish: "fence_redfish" } as const;
export type BmcPowerKind = keyof typeof BMC_AGENTS;
export const BMC_POWER_KINDS = Object.keys(BMC_AGENTS) as BmcPowerKind[];

/** The port each agent uses when the settings name none: IPMI over LAN (RMCP, UDP 623), Redfish (HTTPS). */
export const BMC_DEFAULT_PORTS: Record<BmcPowerKind, number> = { ipmi: 623, redfish: 443 };

/** A DNS host name: dot-separated labels of letters, digits and inner hyphens (RFC 1123), 253 at most. */
const HostName = z
  .string()
  .max(253)
  .regex(
    /^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
  );

/*
 * The values' patterns as an SSM document's `allowedPattern`s (ssm-documents/fence-through-delegate.ts):
 * anchored, in the common subset of JavaScript and POSIX ERE (bash's `=~` checks them again on the host).
 * The schemas below use the same strings where a regex is all they are.
 */
const IPV4_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const H16 = "[0-9a-fA-F]{1,4}";
/** zod's IPv6 regex (zod/v4/core/regexes.ts): the eight groups, or fewer around one `::`; no embedded IPv4. */
const IPV6 = `(${H16}:){7}${H16}|(${H16}:){1,7}:|(${H16}:){1,6}:${H16}|(${H16}:){1,5}(:${H16}){1,2}|(${H16}:){1,4}(:${H16}){1,3}|(${H16}:){1,3}(:${H16}){1,4}|(${H16}:){1,2}(:${H16}){1,5}|${H16}:((:${H16}){1,6})|:((:${H16}){1,7}|:)`;
/** An IPv4, an IPv6 (as above) or a host name (without the letter the schema wants: no lookahead in ERE). */
export const BMC_ADDRESS_PATTERN = `^((${IPV4_OCTET}\\.){3}${IPV4_OCTET}|${IPV6}|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$`;
export const BMC_ADDRESS_MAX_CHARS = 253;
export const BMC_USERNAME_PATTERN = "^[A-Za-z0-9._@-]{1,64}$";
export const SECRETS_MANAGER_ID_PATTERN =
  "^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}|[A-Za-z0-9/_+=.@-]{1,512})$";
export const SSM_PARAMETER_NAME_PATTERN =
  "^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+|/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)$";
export const SSM_PARAMETER_NAME_MAX_CHARS = 2048;
export const REDFISH_PATH_PATTERN = "^/redfish/v1/[A-Za-z0-9._~/-]*$";
export const REDFISH_PATH_MAX_CHARS = 256;
/** A Redfish path, or empty (the agent finds the system). */
export const OPTIONAL_REDFISH_PATH_PATTERN = `^(${unanchored(REDFISH_PATH_PATTERN)})?$`;
/** A Secrets Manager secret id or an SSM parameter name: where a BMC password is kept. */
export const BMC_CREDENTIAL_ID_PATTERN = `^(${unanchored(SECRETS_MANAGER_ID_PATTERN)}|${unanchored(SSM_PARAMETER_NAME_PATTERN)})$`;
/** IPMI's RMCP+ cipher suites. */
export const BMC_CIPHER_MAX = 17;
export const BMC_CIPHER_PATTERN = integerRangePattern(0, BMC_CIPHER_MAX);
/** How long a fence agent's action may take to be confirmed, s. */
export const FENCE_DEADLINE_SECONDS = { min: 5, max: 600 } as const;
/** The longest a fence command may run on its delegate: the longest deadline, the agent's kill margin and the AWS CLI. */
export const FENCE_MAX_EXECUTION_SECONDS = FENCE_DEADLINE_SECONDS.max + 30;
export const FENCE_DEADLINE_PATTERN = integerRangePattern(
  FENCE_DEADLINE_SECONDS.min,
  FENCE_DEADLINE_SECONDS.max,
);

function unanchored(pattern: string): string {
  return pattern.replace(/^\^/, "").replace(/\$$/, "");
}

/**
 * Where the BMC answers: a host name, an IPv4 or an IPv6 address; nothing else reaches a fence agent. An
 * IPv6 address is in one of zod's regex forms (no embedded IPv4, `::ffff:10.0.0.1`): the fence document's
 * pattern allows exactly these.
 */
export const BmcAddress = z.union([z.ipv4(), z.string().regex(new RegExp(`^(${IPV6})$`)), HostName], {
  error: "a BMC address is a host name, an IPv4 or an IPv6 address",
});

/** The BMC account (not a secret): IPMI allows 16 bytes, Redfish more; no spaces, quotes or line breaks. */
export const BmcUsername = z
  .string()
  .regex(new RegExp(BMC_USERNAME_PATTERN), "a BMC user name is 1-64 letters, digits, '.', '_', '@' or '-'");

/** A Secrets Manager secret, by name or ARN (the secret's value is the password, as a plain string). */
export const SecretsManagerId = z
  .string()
  .regex(new RegExp(SECRETS_MANAGER_ID_PATTERN), "a secret id is a Secrets Manager secret name or ARN");

/** An SSM parameter (a SecureString holding the password), by name or ARN. */
export const SsmParameterName = z
  .string()
  .max(SSM_PARAMETER_NAME_MAX_CHARS)
  .regex(
    new RegExp(SSM_PARAMETER_NAME_PATTERN),
    "a parameter name is letters, digits, '_', '.', '-' in '/'-separated parts, or its ARN",
  );

/** Where the BMC password is kept: exactly one of a Secrets Manager secret or an SSM SecureString parameter. */
export const BmcCredentials = z.union(
  [z.strictObject({ secretsManager: SecretsManagerId }), z.strictObject({ ssmParameter: SsmParameterName })],
  {
    error:
      "credentials are {secretsManager: SECRET_ID} or {ssmParameter: NAME}: a reference, never the password",
  },
);
export type BmcCredentials = z.infer<typeof BmcCredentials>;

/** A path on the BMC's Redfish service, e.g. /redfish/v1/Systems/1. */
export const RedfishPath = z
  .string()
  .max(REDFISH_PATH_MAX_CHARS)
  .regex(new RegExp(REDFISH_PATH_PATTERN), "a Redfish path starts with /redfish/v1/");

const NO_PASSWORD = {
  error:
    "a BMC password is never stored: put it in Secrets Manager or an SSM SecureString parameter and give credentials {secretsManager} or {ssmParameter}",
};

/**
 * How the fence reaches a host's BMC. `network` names the BMC network it is on: only hosts that reach that
 * network (`HostFencing.bmcNetworks`) may be its delegates. The agent options are Pacemaker's: `lanplus`
 * and `cipher` for IPMI (RMCP+ with cipher suite 3, AES-128 + HMAC-SHA1, by default; naming the suite
 * also spares ipmitool its cipher-suite discovery, which some BMCs answer slowly), `verifyTls` and
 * `systemsUri` for Redfish.
 */
export const BmcSettings = z.strictObject({
  address: BmcAddress,
  /** null: the agent's default port (623 for IPMI, 443 for Redfish). */
  port: z.number().int().min(1).max(65535).nullable().default(null),
  network: ResourceName,
  username: BmcUsername,
  credentials: BmcCredentials,
  lanplus: z.boolean().default(true),
  cipher: z.number().int().min(0).max(BMC_CIPHER_MAX).default(3),
  verifyTls: z.boolean().default(true),
  /** Redfish: the system's resource; null lets the agent find the first system. */
  systemsUri: RedfishPath.nullable().default(null),
  password: z.never(NO_PASSWORD).optional(),
  secret: z.never(NO_PASSWORD).optional(),
});
export type BmcSettings = z.infer<typeof BmcSettings>;

/** The port the agent talks to. */
export function bmcPort(kind: BmcPowerKind, bmc: Pick<BmcSettings, "port">): number {
  return bmc.port ?? BMC_DEFAULT_PORTS[kind];
}

export function isBmcPowerKind(power: string): power is BmcPowerKind {
  return Object.hasOwn(BMC_AGENTS, power);
}

/** Names the BMC network a delegate must reach; the settings' own network list is `bmcNetworks`. */
export const BmcNetworks = z.array(ResourceName).max(16);
