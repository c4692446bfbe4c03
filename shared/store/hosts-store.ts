/**
 * Compute hosts, their service status, and resource CLAIMS.
 *
 * A claim is one conditional UpdateItem on the host item: it adds the claim to `claims` (keyed by
 * instance uuid), adds its resources to `usage`, and for an anti-affinity server group takes the
 * group's slot in `antiAffinity`, all under a condition that the claim is new, that usage stays
 * within floor(capacity × allocation ratio) (computed client-side as a bound on the usage before
 * the claim, since conditions have no arithmetic), that capacity and ratios are still the ones the
 * bound was computed from, and that the group slot is free or already this instance's. So usage is
 * always the sum of the claims and never exceeds the limit, however many claims race.
 */
import { isDeepStrictEqual } from "node:util";
import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import {
  allocationRatio,
  ClaimRequest,
  evaluateClaim,
  RESOURCE_KINDS,
  ratioKey,
  resourceLimit,
} from "../domain/claim-policy.js";
import {
  ConcurrentUpdate,
  HostNotFound,
  HostRegistrationConflict,
  PlacementRaced,
} from "../domain/errors.js";
import { newHostRecord } from "../domain/host-record.js";
import { type Claim, Claim as ClaimSchema, Host, HostStatus, type Resources } from "../domain/schemas.js";
import { IsoTime } from "../domain/values.js";
import {
  Expr,
  isConditionalCheckFailed,
  itemAtFailure,
  MAX_WRITE_ATTEMPTS,
  parseInput,
  parseStored,
  type StoreDeps,
  scanAll,
} from "./dynamo-util.js";
import { TableStore } from "./table-store.js";

export interface ClaimResult {
  host: Host;
  claim: Claim;
  /** false: the claim already existed with this owner (a retried claim), nothing was added. */
  created: boolean;
}

export interface ReleaseResult {
  host: Host;
  /** The claim removed, or null when there was none (or it belonged to another owner). */
  released: Claim | null;
}

export const ServicePatch = z.object({
  enabled: z.boolean().optional(),
  disabledReason: z.string().nullable().optional(),
  forcedDown: z.boolean().optional(),
  status: HostStatus.optional(),
  lastHeartbeatAt: IsoTime.nullable().optional(),
});
export type ServicePatch = z.infer<typeof ServicePatch>;

/** What registration decides about a host; everything else (usage, claims, service status) the store keeps. */
export const HostRegistration = Host.pick({
  name: true,
  managedInstanceId: true,
  virtType: true,
  supportsRecreate: true,
  availabilityZone: true,
  capacity: true,
  allocationRatios: true,
  storage: true,
});
export type HostRegistration = z.infer<typeof HostRegistration>;
const REGISTRATION_FIELDS = Object.keys(HostRegistration.shape) as (keyof HostRegistration)[];

export interface RegisterResult {
  host: Host;
  /** "created": a new host; "updated": registration fields changed; "unchanged": nothing to write. */
  outcome: "created" | "updated" | "unchanged";
  /** The registration fields written over a known host's (empty unless "updated"). */
  changed: (keyof HostRegistration)[];
}

export class HostsStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "hosts");
  }

  /** Register or replace a host record as given (claims and usage included: for seeding and tools). */
  async put(host: Host): Promise<Host> {
    const record = parseInput(Host, host, "host");
    await this.doc.send(new PutCommand({ TableName: this.table, Item: record }));
    return record;
  }

  /**
   * Register a host, or refresh the registration of a known one (capacity, ratios, storage, ...), keeping
   * its claims, usage and service status. Idempotent. Refuses (HostRegistrationConflict) a name already
   * registered for another managed instance. A capacity change never races a claim: claims are
   * conditional on the capacity they were checked against.
   */
  async register(registration: HostRegistration): Promise<RegisterResult> {
    const reg = parseInput(HostRegistration, registration, "host registration");
    let current = await this.get(reg.name);
    for (let attempt = 1; ; attempt++) {
      if (attempt > MAX_WRITE_ATTEMPTS) {
        throw new ConcurrentUpdate(`host ${reg.name} kept changing; registration gave up`, {
          host: reg.name,
        });
      }
      if (current && current.managedInstanceId !== reg.managedInstanceId) {
        throw new HostRegistrationConflict(
          `host name ${reg.name} is registered for managed instance ${current.managedInstanceId}, not ${reg.managedInstanceId}`,
          { host: reg.name, registered: current.managedInstanceId, requested: reg.managedInstanceId },
        );
      }
      try {
        if (!current) {
          // Registration just ran commands on the host through its agent: it is up now. Its liveness
          // from here on is its heartbeat alarm's (status), or the local monitor's heartbeat time.
          const host = newHostRecord(reg);
          await this.doc.send(
            new PutCommand({
              TableName: this.table,
              Item: host,
              ConditionExpression: "attribute_not_exists(#n)",
              ExpressionAttributeNames: { "#n": "name" },
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
          );
          return { host, outcome: "created", changed: [] };
        }
        const changed = REGISTRATION_FIELDS.filter((f) => !isDeepStrictEqual(current![f], reg[f]));
        if (changed.length === 0) return { host: current, outcome: "unchanged", changed };
        const x = new Expr();
        const sets = changed.map((f) => `${x.name(f)} = ${x.value(reg[f])}`);
        sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
        const out = await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.keyOf(reg.name),
            UpdateExpression: `SET ${sets.join(", ")}`,
            ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
            ...x.attributes(),
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return { host: parseStored(Host, out.Attributes ?? {}, "host"), outcome: "updated", changed };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(reg.name));
        current = old ? parseStored(Host, old, "host") : null;
      }
    }
  }

  get(name: string): Promise<Host | null> {
    return this.getParsed(Host, name, "host");
  }

  require(name: string): Promise<Host> {
    return this.requireParsed(
      Host,
      name,
      "host",
      () => new HostNotFound(`Compute host ${name} not found.`, { host: name }),
    );
  }

  async list(): Promise<Host[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items.map((i) => parseStored(Host, i, "host")).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Change the compute service fields (enabled, forced down, liveness). Bumps version. */
  async setService(name: string, patch: ServicePatch): Promise<Host> {
    const fields = Object.entries(parseInput(ServicePatch, patch, "service patch")).filter(
      ([, v]) => v !== undefined,
    );
    const x = new Expr();
    const sets = fields.map(([k, v]) => `${x.name(k)} = ${x.value(v)}`);
    sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.keyOf(name),
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: `attribute_exists(${x.name("name")})`,
          ...x.attributes(),
          ReturnValues: "ALL_NEW",
        }),
      );
      return parseStored(Host, out.Attributes ?? {}, "host");
    } catch (e) {
      if (isConditionalCheckFailed(e))
        throw new HostNotFound(`Compute host ${name} not found.`, { host: name });
      throw e;
    }
  }

  /**
   * Claim resources for an instance on a host: one conditional write, never overcommitting.
   * Throws ClaimRefused (details say which resource or server group), HostNotFound.
   */
  async claim(
    hostName: string,
    request: ClaimRequest,
    opts: {
      /**
       * The usage the scheduler weighed this host with. If the host's usage is no longer that, the claim
       * throws PlacementRaced instead of being made, so the scheduler can weigh again: concurrent
       * placements then spread as a sequential run would (usage only grows during a burst of
       * placements, so a host that is unchanged since it was weighed is still the best choice).
       */
      expectUsage?: Resources;
    } = {},
  ): Promise<ClaimResult> {
    const req = parseInput(ClaimRequest, request, "claim request");
    let host = await this.require(hostName);
    for (let attempt = 1; ; attempt++) {
      const verdict = evaluateClaim(host, req);
      if (verdict.kind === "already") return { host, claim: verdict.claim, created: false };
      if (verdict.kind === "refused") throw verdict.error;
      if (opts.expectUsage && !isDeepStrictEqual(host.usage, opts.expectUsage)) {
        throw new PlacementRaced(`host ${hostName} changed since it was weighed`, {
          host: hostName,
          expected: opts.expectUsage,
          usage: host.usage,
        });
      }
      if (attempt > MAX_WRITE_ATTEMPTS) {
        throw new ConcurrentUpdate(
          `host ${hostName} kept changing; claim gave up after ${MAX_WRITE_ATTEMPTS} attempts`,
          { host: hostName, instanceUuid: req.instanceUuid },
        );
      }
      const claim = parseInput(ClaimSchema, { ...req, claimedAt: this.now().toISOString() }, "claim");
      try {
        const written = await this.writeClaim(host, claim, opts.expectUsage);
        return { host: written, claim, created: true };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(hostName));
        if (!old) throw new HostNotFound(`Compute host ${hostName} not found.`, { host: hostName });
        // The loop re-evaluates on the item the write saw: a concurrent claim that took the room or the
        // group slot refuses now; a capacity/ratio change (or a release) that still leaves room is retried.
        host = parseStored(Host, old, "host");
      }
    }
  }

  private async writeClaim(host: Host, claim: Claim, expectUsage?: Resources): Promise<Host> {
    const x = new Expr();
    const uuid = claim.instanceUuid;
    const conditions = [
      `attribute_exists(${x.name("name")})`,
      `attribute_not_exists(${x.path("claims", uuid)})`,
    ];
    const sets = [`${x.path("claims", uuid)} = ${x.value(claim)}`];
    for (const kind of RESOURCE_KINDS) {
      const ratio = ratioKey(kind);
      const usage = x.path("usage", kind);
      const maxUsageBefore = resourceLimit(host, kind) - claim.resources[kind];
      conditions.push(
        `${usage} <= ${x.value(maxUsageBefore)}`,
        // The bound above was computed from these: it only holds while they are unchanged.
        `${x.path("capacity", kind)} = ${x.value(host.capacity[kind])}`,
        `${x.path("allocationRatios", ratio)} = ${x.value(allocationRatio(host, kind))}`,
      );
      sets.push(`${usage} = ${usage} + ${x.value(claim.resources[kind])}`);
      // Weighed placement: the host must still be as it was weighed (else PlacementRaced, weigh again).
      if (expectUsage) conditions.push(`${usage} = ${x.value(expectUsage[kind])}`);
    }
    const group = claim.serverGroup;
    if (group?.policy === "anti-affinity") {
      const slot = x.path("antiAffinity", group.id);
      const me = x.value(uuid);
      conditions.push(`(attribute_not_exists(${slot}) OR ${slot} = ${me})`);
      sets.push(`${slot} = ${me}`);
    }
    sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.keyOf(host.name),
        UpdateExpression: `SET ${sets.join(", ")}`,
        ConditionExpression: conditions.join(" AND "),
        ...x.attributes(),
        ReturnValues: "ALL_NEW",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    return parseStored(Host, out.Attributes ?? {}, "host");
  }

  /**
   * Remove an instance's claim: subtract its resources, free its anti-affinity slot. Idempotent: no
   * claim is a no-op; with `owner`, a claim held by another owner is left alone (released: null).
   */
  async release(
    hostName: string,
    instanceUuid: string,
    opts: { owner?: string } = {},
  ): Promise<ReleaseResult> {
    let host = await this.require(hostName);
    for (let attempt = 1; ; attempt++) {
      const claim = host.claims[instanceUuid];
      if (!claim || (opts.owner !== undefined && claim.owner !== opts.owner)) return { host, released: null };
      if (attempt > MAX_WRITE_ATTEMPTS) {
        throw new ConcurrentUpdate(
          `host ${hostName} kept changing; release gave up after ${MAX_WRITE_ATTEMPTS} attempts`,
          { host: hostName, instanceUuid },
        );
      }
      try {
        return { host: await this.writeRelease(host, claim), released: claim };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(hostName));
        if (!old) throw new HostNotFound(`Compute host ${hostName} not found.`, { host: hostName });
        host = parseStored(Host, old, "host");
      }
    }
  }

  private async writeRelease(host: Host, claim: Claim): Promise<Host> {
    const x = new Expr();
    const uuid = claim.instanceUuid;
    const conditions = [
      `${x.path("claims", uuid, "owner")} = ${x.value(claim.owner)}`,
      `${x.path("claims", uuid, "claimedAt")} = ${x.value(claim.claimedAt)}`,
    ];
    const removes = [x.path("claims", uuid)];
    const sets = RESOURCE_KINDS.map((kind) => {
      const usage = x.path("usage", kind);
      return `${usage} = ${usage} - ${x.value(claim.resources[kind])}`;
    });
    sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
    const group = claim.serverGroup;
    if (group?.policy === "anti-affinity" && host.antiAffinity[group.id] === uuid) {
      const slot = x.path("antiAffinity", group.id);
      conditions.push(`${slot} = ${x.value(uuid)}`);
      removes.push(slot);
    }
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.keyOf(host.name),
        UpdateExpression: `SET ${sets.join(", ")} REMOVE ${removes.join(", ")}`,
        ConditionExpression: conditions.join(" AND "),
        ...x.attributes(),
        ReturnValues: "ALL_NEW",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    return parseStored(Host, out.Attributes ?? {}, "host");
  }
}
