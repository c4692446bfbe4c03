/**
 * The host role's EventBridge statement, enforced by the local EventBridge endpoint for callers whose key
 * was issued to a host: what `hostAgentStatements` (shared/definitions/host-role.ts, the statements the
 * stack deploys) allows for `events:PutEvents`, evaluated per entry as EventBridge does (the bus is the
 * resource; `events:source` and `events:detail-type` are conditions with per-entry error codes). So a
 * host agent that puts an event the deployed role refuses fails here too: one definition, read by both.
 * Only this statement is evaluated; the other endpoints check signatures, not policies.
 */
import { hostAgentStatements, type IamStatement } from "#shared/definitions/host-role.js";

/** What every host's key is issued to: `host/<name>` (`LocalCredentials.issue`). */
const HOST_PRINCIPAL_PREFIX = "host/";

export function hostPrincipal(host: string): string {
  return `${HOST_PRINCIPAL_PREFIX}${host}`;
}

export function isHostPrincipal(principal: string | undefined): boolean {
  return principal?.startsWith(HOST_PRINCIPAL_PREFIX) === true;
}

export interface EntryRefusal {
  ErrorCode:
    | "AccessDeniedException"
    | "NotAuthorizedForSourceException"
    | "NotAuthorizedForDetailTypeException";
  ErrorMessage: string;
}

const values = (v: string | string[] | undefined): string[] | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? v : [v];

/** IAM's wildcard match: `*` any run of characters, `?` one. */
export function wildcardMatch(pattern: string, value: string): boolean {
  return wildcardRegExp(pattern).test(value);
}

function wildcardRegExp(pattern: string): RegExp {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`);
}

/**
 * The host role's PutEvents check for an endpoint in `region` and `account` (the ARNs its buses have),
 * made once: for an entry, why the role refuses it (undefined: allowed).
 */
export function hostEventsPolicy(where: {
  region: string;
  account: string;
}): (entry: { eventBusName: string; source: string; detailType: string }) => EntryRefusal | undefined {
  const condition = (st: IamStatement, key: string) => values(st.Condition?.StringEquals?.[key]);
  const putEvents = hostAgentStatements({ prefix: "lazarus", partition: "aws", ...where })
    .filter(
      (st): st is Extract<IamStatement, { Resource: unknown }> =>
        st.Effect === "Allow" && values(st.Action)!.includes("events:PutEvents") && "Resource" in st,
    )
    .map((st) => ({
      buses: values(st.Resource)!.map(wildcardRegExp),
      sources: condition(st, "events:source"),
      detailTypes: condition(st, "events:detail-type"),
    }));
  return (entry) => {
    const busArn = `arn:aws:events:${where.region}:${where.account}:event-bus/${entry.eventBusName}`;
    const onBus = putEvents.filter((st) => st.buses.some((re) => re.test(busArn)));
    if (onBus.length === 0)
      return {
        ErrorCode: "AccessDeniedException",
        ErrorMessage: `not authorized to perform: events:PutEvents on resource: ${busArn}`,
      };
    const sourceOk = onBus.filter((st) => st.sources?.includes(entry.source) ?? true);
    if (sourceOk.length === 0)
      return {
        ErrorCode: "NotAuthorizedForSourceException",
        ErrorMessage: "You do not have permissions to publish events with this source onto this event bus.",
      };
    if (!sourceOk.some((st) => st.detailTypes?.includes(entry.detailType) ?? true))
      return {
        ErrorCode: "NotAuthorizedForDetailTypeException",
        ErrorMessage:
          "You do not have permissions to publish events with this detail type onto this event bus.",
      };
    return undefined;
  };
}
