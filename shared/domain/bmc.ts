/**
 * A host's baseboard management controller (BMC) as the power fence reaches it: its address, the fence
 * agent's options, and where its password is kept. Only a *reference* to the password is ever stored (a
 * Secrets Manager secret or an SSM SecureString parameter); the delegate host that runs the fence agent
 * reads the value itself, with its own credentials (shared/hosts/fence-agent.ts). The password is never in
 * a host record, an execution's input or history, a log line, a command line or an API answer.
 */
import { z } from "zod";
import { ResourceName } from "./values.js";

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

/** Where the BMC answers: a host name, an IPv4 or an IPv6 address; nothing else reaches a fence agent. */
export const BmcAddress = z.union([z.ipv4(), z.ipv6(), HostName], {
  error: "a BMC address is a host name, an IPv4 or an IPv6 address",
});

/** The BMC account (not a secret): IPMI allows 16 bytes, Redfish more; no spaces, quotes or line breaks. */
export const BmcUsername = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, "a BMC user name is 1-64 letters, digits, '.', '_', '@' or '-'");

/** A Secrets Manager secret, by name or ARN (the secret's value is the password, as a plain string). */
export const SecretsManagerId = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}|[A-Za-z0-9/_+=.@-]{1,512})$/,
    "a secret id is a Secrets Manager secret name or ARN",
  );

/** An SSM parameter (a SecureString holding the password), by name or ARN. */
export const SsmParameterName = z
  .string()
  .max(2048)
  .regex(
    /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter\/[A-Za-z0-9/_.-]+|\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*)$/,
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
  .max(256)
  .regex(/^\/redfish\/v1\/[A-Za-z0-9._~/-]*$/, "a Redfish path starts with /redfish/v1/");

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
  cipher: z.number().int().min(0).max(17).default(3),
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
