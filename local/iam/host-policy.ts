/**
 * The host role's EventBridge statement, enforced by the local EventBridge endpoint for callers whose key
 * was issued to a host: what `hostAgentStatements` (shared/definitions/host-role.ts, the statements the
 * stack deploys) allows for `events:PutEvents`, evaluated per entry as EventBridge does (the bus is the
 * resource; `events:source` and `events:detail-type` are conditions with per-entry error codes). So a
 * host agent that puts an event the deployed role refuses fails here too: one definition, read by both.
 * Only this statement is evaluated; the other endpoints check signatures, not policies.
 */
import { hostAgentStatements, type IamStatement } from "#shared/definitions/host-role.js";

/** The principal a host's key is issued to (`LocalCredentials.issue`). */
export function hostPrincipal(host: string): string {
  return `host/${host}`;
}

export function isHostPrincipal(principal: string | undefined): boolean {
  return principal?.startsWith("host/") === true;
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
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(value);
}

/**
 * Why the host role refuses this entry (undefined: allowed). `region` and `account` are the endpoint's, the
 * ARNs its buses have.
 */
export function hostEntryRefusal(
  entry: { eventBusName: string; source: string; detailType: string },
  where: { region: string; account: string },
): EntryRefusal | undefined {
  const scope = { prefix: "lazarus", partition: "aws", ...where };
  const busArn = `arn:aws:events:${where.region}:${where.account}:event-bus/${entry.eventBusName}`;
  const onBus = hostAgentStatements(scope).filter(
    (st): st is IamStatement & { Resource: string | string[] } =>
      st.Effect === "Allow" &&
      values(st.Action as string | string[])!.includes("events:PutEvents") &&
      "Resource" in st &&
      values(st.Resource)!.some((r) => wildcardMatch(r, busArn)),
  );
  if (onBus.length === 0)
    return {
      ErrorCode: "AccessDeniedException",
      ErrorMessage: `not authorized to perform: events:PutEvents on resource: ${busArn}`,
    };
  const condition = (st: IamStatement, key: string) => values(st.Condition?.StringEquals?.[key]);
  const sourceOk = onBus.filter((st) => condition(st, "events:source")?.includes(entry.source) ?? true);
  if (sourceOk.length === 0)
    return {
      ErrorCode: "NotAuthorizedForSourceException",
      ErrorMessage: "You do not have permissions to publish events with this source onto this event bus.",
    };
  if (!sourceOk.some((st) => condition(st, "events:detail-type")?.includes(entry.detailType) ?? true))
    return {
      ErrorCode: "NotAuthorizedForDetailTypeException",
      ErrorMessage:
        "You do not have permissions to publish events with this detail type onto this event bus.",
    };
  return undefined;
}
