/**
 * The KVM hosts' own IAM policy, as data: what `lazarus-host` calls (host-agent/) and, on a host that is a
 * BMC-fencing delegate, the read of its networks' BMC passwords (the fence-through-delegate document reads
 * them with the host's credentials). The CDK stack gives the host role exactly these statements
 * (cdk/host-role.ts: the role of SSM hybrid activations and the instance profile of EC2 hosts, with
 * `AmazonSSMManagedInstanceCore` for the SSM agent); docs/SECURITY.md shows them rendered for placeholders
 * (test/unit/cdk/host-role.test.ts checks the doc, the stack and the agent's SDK calls against this).
 * Plain data: no AWS client.
 */
import { PEER_SILENT_EVENT } from "../domain/host-failure.js";
import { DOMAIN_STOPPED_EVENT } from "../domain/instance-failure.js";
import { heartbeatAlarmNamePrefix, heartbeatLogGroupName } from "./heartbeat.js";
import { INSTANCE_MONITOR_EVENT } from "./instance-failure.js";

export type IamStatement = {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
} & ({ Resource: string | string[] } | { NotResource: string | string[] });

/**
 * The events a host puts on the default bus, all from source lazarus.host: its report of a domain that
 * stopped (the instance monitor, the boot check), the instance monitor's health changing, and a peer it
 * watches fallen silent (host-agent/peers.ts).
 */
export const HOST_EVENT_DETAIL_TYPES = [
  DOMAIN_STOPPED_EVENT.detailType,
  PEER_SILENT_EVENT.detailType,
  INSTANCE_MONITOR_EVENT.detailType.stopped,
  INSTANCE_MONITOR_EVENT.detailType.running,
] as const;

/** Where the statements apply: ARN parts (the stack's tokens, or the doc's `<region>` placeholders). */
export interface HostRoleScope {
  prefix: string;
  partition: string;
  region: string;
  account: string;
}

/** An ARN of `service` in the scope's partition, region and account. */
function arnIn(s: HostRoleScope, service: string, resource: string): string {
  return `arn:${s.partition}:${service}:${s.region}:${s.account}:${resource}`;
}

/** The SSM parameters under the BMC paths: what a delegate may read, and all the deny spares. */
function bmcParameterArns(s: HostRoleScope, paths: readonly string[]): string[] {
  return paths.map((p) => arnIn(s, "ssm", `parameter/${p}*`));
}

/**
 * What the host agent calls, nothing else: its heartbeat and monitor streams in the heartbeat log group only,
 * its reports (source lazarus.host, the detail types of HOST_EVENT_DETAIL_TYPES only) on the default bus,
 * and its own heartbeat alarm's state (`lazarus-host status`). No cloudwatch:PutMetricData: the heartbeat is a log line, and
 * CloudWatch Logs makes the metric from it, so a host cannot write another host's metric through the API.
 */
export function hostAgentStatements(s: HostRoleScope): IamStatement[] {
  const arn = (service: string, resource: string) => arnIn(s, service, resource);
  return [
    {
      Sid: "Heartbeats",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: arn("logs", `log-group:${heartbeatLogGroupName(s.prefix)}:log-stream:*`),
    },
    {
      Sid: "HostReports",
      Effect: "Allow",
      Action: "events:PutEvents",
      Resource: arn("events", "event-bus/default"),
      Condition: {
        StringEquals: {
          "events:source": DOMAIN_STOPPED_EVENT.source,
          "events:detail-type": [...HOST_EVENT_DETAIL_TYPES],
        },
      },
    },
    {
      Sid: "OwnStatus",
      Effect: "Allow",
      Action: "cloudwatch:DescribeAlarms",
      Resource: arn("cloudwatch", `alarm:${heartbeatAlarmNamePrefix(s.prefix)}*`),
    },
  ];
}

/**
 * A BMC-fencing delegate's read of the BMC passwords (the fence-through-delegate document fetches the one
 * its request names), under the configured paths only (`hostRole.bmcCredentialPaths`, e.g.
 * `lazarus/bmc/oob-a/`): a Secrets Manager secret whose name starts with one, or an SSM SecureString
 * parameter under one (GetParameter with decryption: the AWS managed key needs no KMS grant; a customer
 * managed key also needs kms:Decrypt, granted by its key policy). None configured: no statement at all.
 */
export function bmcCredentialStatements(s: HostRoleScope, paths: readonly string[]): IamStatement[] {
  if (paths.length === 0) return [];
  return [
    {
      Sid: "BmcPasswordSecrets",
      Effect: "Allow",
      Action: "secretsmanager:GetSecretValue",
      Resource: paths.map((p) => arnIn(s, "secretsmanager", `secret:${p}*`)),
    },
    {
      Sid: "BmcPasswordParameters",
      Effect: "Allow",
      Action: "ssm:GetParameter",
      Resource: bmcParameterArns(s, paths),
    },
  ];
}

/**
 * No parameter but the BMC passwords: the SSM agent's managed policy (`AmazonSSMManagedInstanceCore`) allows
 * ssm:GetParameter and ssm:GetParameters on every parameter of the account, so without this any host could
 * read any SecureString under the AWS managed key (an application's database password, another network's
 * BMC password kept elsewhere). An explicit deny wins over that allow; the host documents never reference
 * a parameter (`{{ssm:...}}`), so the agent needs none. With BMC paths, the deny spares exactly the
 * parameters under them (`bmcCredentialStatements` allows those).
 */
export function parameterReadStatements(s: HostRoleScope, paths: readonly string[]): IamStatement[] {
  const actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"];
  if (paths.length === 0) return [{ Sid: "NoParameters", Effect: "Deny", Action: actions, Resource: "*" }];
  return [
    {
      Sid: "NoParameters",
      Effect: "Deny",
      Action: actions,
      NotResource: bmcParameterArns(s, paths),
    },
  ];
}

/** A host role group's name: the role is `<prefix>-host-<name>` (IAM role names: 64 characters). */
export const HOST_ROLE_GROUP_PATTERN = /^[a-z0-9][a-z0-9-]{0,19}$/;

/** The name of a host role: `<prefix>-host`, or `<prefix>-host-<group>`. */
export function hostRoleName(prefix: string, group?: string): string {
  return group === undefined ? `${prefix}-host` : `${prefix}-host-${group}`;
}

/** A BMC credential path: a Secrets Manager name / SSM parameter path prefix, ending in `/`. */
export const BMC_CREDENTIAL_PATH_PATTERN = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/$/;

/** The placeholders docs/SECURITY.md renders the statements with. */
export const DOC_SCOPE: HostRoleScope = {
  prefix: "<prefix>",
  partition: "aws",
  region: "<region>",
  account: "<account>",
};
/** The example BMC path the docs render (one network's passwords). */
export const DOC_BMC_PATHS = ["lazarus/bmc/oob-a/"] as const;
