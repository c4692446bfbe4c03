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
import {
  BatchGetCommand,
  DeleteCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
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
  ClaimRefused,
  ConcurrentUpdate,
  HostNotFound,
  HostRegistrationConflict,
  PlacementRaced,
} from "../domain/errors.js";
import { newHostRecord } from "../domain/host-record.js";
import {
  type Claim,
  Claim as ClaimSchema,
  DeathProof,
  Host,
  HostDrift,
  HostFencing,
  HostLiveMigration,
  HostStatus,
  OPEN_INCIDENT_STATUSES,
  POWER_LOG_KEEP,
  type PowerRecord,
  PowerRecord as PowerRecordSchema,
  type Resources,
} from "../domain/schemas.js";
import { IsoTime } from "../domain/values.js";
import {
  Expr,
  type Item,
  isConditionalCheckFailed,
  parseInput,
  parseStored,
  type StoreDeps,
  scanAll,
  updateExpression,
} from "./dynamo-util.js";
import { FleetStore } from "./fleet-store.js";
import {
  freeRamTerm,
  hostIndexAttributes,
  indexTerms,
  isSchedulable,
  placementView,
  poolKey,
  SUSPECT_KEY,
} from "./host-index.js";
import { type ConditionalUpdate, type RecordKind, RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export const hostNotFound = (name: string) =>
  new HostNotFound(`Compute host ${name} not found.`, { host: name });
export const parseHost = (item: Item): Host => parseStored(Host, item, "host");
/** Host records (the hosts table), for the stores that read and change them. */
export const HOST_RECORDS: RecordKind<typeof Host> = { schema: Host, what: "host", notFound: hostNotFound };

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

/**
 * A change of the compute service fields. `forced_down` is not among them: it is written with the proof
 * of death it stands for (`deathProof`: set = forced down, null = not), so the two never disagree.
 */
export const ServicePatch = z
  .strictObject({
    enabled: z.boolean().optional(),
    disabledReason: z.string().nullable().optional(),
    status: HostStatus.optional(),
    lastHeartbeatAt: IsoTime.nullable().optional(),
    deathProof: DeathProof.nullable().optional(),
  })
  .transform(({ deathProof, ...rest }) =>
    deathProof === undefined ? rest : { ...rest, deathProof, forcedDown: deathProof !== null },
  );
export type ServicePatch = z.input<typeof ServicePatch>;

/** The fields of a service patch to write (validated, undefined ones left out). */
function servicePatchFields(patch: ServicePatch): [string, unknown][] {
  return Object.entries(parseInput(ServicePatch, patch, "service patch")).filter(([, v]) => v !== undefined);
}

/**
 * The SET and REMOVE terms of a service patch on `current` (the record the write is conditional on): its
 * fields, the version bump of every host change, and the index attributes of the record it makes.
 */
export function servicePatchTerms(
  x: Expr,
  current: Host,
  patch: ServicePatch,
  more: Partial<Host> = {},
): { sets: string[]; removes: string[]; next: Host } {
  const fields = servicePatchFields(patch);
  const next = parseHost({
    ...current,
    ...Object.fromEntries(fields),
    ...more,
    version: current.version + 1,
  });
  const index = indexTerms(x, next);
  return {
    sets: [
      ...fields.map(([k, v]) => `${x.name(k)} = ${x.value(v)}`),
      `${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
      ...index.sets,
    ],
    removes: index.removes,
    next,
  };
}

/** Whether a service patch changes what the host's index attributes derive from (else it is written blind). */
function touchesIndex(patch: ServicePatch): boolean {
  return patch.enabled !== undefined || patch.status !== undefined || patch.deathProof !== undefined;
}

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
}).extend({
  /** Absent: a known host keeps its fencing, a new one gets none (see the registration request). */
  fencing: HostFencing.optional(),
  /** Absent: a known host keeps it, a new one takes cold migrations only. */
  liveMigration: HostLiveMigration.optional(),
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

/** One page of host names from an index or the table, and where the next page starts (none: the end). */
export interface HostPage {
  names: string[];
  next?: Record<string, unknown>;
}

/** One page of the scheduler's index: hosts as it projects them (`placementView`: no claims). */
export interface PlacementPage {
  hosts: Host[];
  next?: Record<string, unknown>;
}

/**
 * What a scheduled claim relies on besides room: the host may still take instances (enabled, up, not forced
 * down) and still has the placement facts the filters passed (zone, virt type, recreate, shared pool). The
 * index it was chosen from may lag (eventually consistent in AWS); the claim checks these on the item.
 */
export interface PlacementExpectation {
  availabilityZone: string;
  virtType: Host["virtType"];
  supportsRecreate: boolean;
  sharedPoolId: string | null;
}

/** Why `host` no longer meets `expect` (null: it does). */
export function placementMismatch(host: Host, expect: PlacementExpectation): string | null {
  if (!isSchedulable(host))
    return host.forcedDown ? "forced down" : !host.enabled ? "disabled" : "compute service down";
  if (host.availabilityZone !== expect.availabilityZone) return `now in zone ${host.availabilityZone}`;
  if (host.virtType !== expect.virtType) return `now virt type ${host.virtType}`;
  if (host.supportsRecreate !== expect.supportsRecreate) return "recreate support changed";
  if (host.storage.sharedPoolId !== expect.sharedPoolId) return "shared pool changed";
  return null;
}

export class HostsStore extends RecordStore<typeof Host> {
  /** The fleet's count and BMC-network membership, kept with the host items (fleet-store.ts). */
  readonly fleet: FleetStore;

  constructor(deps: StoreDeps) {
    super(deps, "hosts", HOST_RECORDS);
    this.fleet = new FleetStore(deps);
  }

  /** A host item: the record and its index attributes (host-index.ts). */
  protected override toItem(record: Host): Item {
    return { ...record, ...hostIndexAttributes(record) };
  }

  /** Bulk seeding (tests, simulated fleets): the hosts' zones are noted too (not the count, nor networks). */
  override async putMany(values: readonly z.input<typeof Host>[]): Promise<void> {
    await super.putMany(values);
    const zones = new Set(values.map((v) => parseInput(Host, v, "host").availabilityZone));
    for (const zone of zones) await this.fleet.noteZone(zone);
  }

  /**
   * Creates or replaces a host record as given (seeding, tools); the fleet's count and BMC networks follow.
   */
  override async put(value: z.input<typeof Host>): Promise<Host> {
    const record = parseInput(Host, value, "host");
    const out = await this.doc.send(
      new PutCommand({ TableName: this.table, Item: this.toItem(record), ReturnValues: "ALL_OLD" }),
    );
    const old = out.Attributes ? parseHost(out.Attributes) : null;
    if (!old) await this.fleet.addHosts(1);
    if (old?.availabilityZone !== record.availabilityZone) await this.fleet.noteZone(record.availabilityZone);
    await this.fleet.setBmcNetworks(record.name, old?.fencing.bmcNetworks ?? [], record.fencing.bmcNetworks);
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
    if (!current) {
      // Registration just ran commands on the host through its agent: it is up now. Its liveness
      // from here on is its heartbeat alarm's (status), or the local monitor's heartbeat time.
      const host = newHostRecord(reg);
      const put = await this.putIfAbsent(this.toItem(host));
      if (put.written) {
        // Counted after the item exists: a crash between the two leaves the count one low, which only
        // makes the mass-failure guard hold a little sooner.
        await this.fleet.addHosts(1);
        await this.fleet.noteZone(host.availabilityZone);
        await this.fleet.setBmcNetworks(host.name, [], host.fencing.bmcNetworks);
        return { host, outcome: "created", changed: [] };
      }
      if (!put.existing) throw hostNotFound(reg.name);
      current = parseHost(put.existing); // registered meanwhile: refreshed below like any known host
    }
    let outcome: RegisterResult["outcome"] = "unchanged";
    let changed: RegisterResult["changed"] = [];
    const host = await this.change({
      key: reg.name,
      what: `host ${reg.name}`,
      current,
      parse: parseHost,
      notFound: () => hostNotFound(reg.name),
      details: { host: reg.name },
      decide: (known) => {
        if (known.managedInstanceId !== reg.managedInstanceId) {
          throw new HostRegistrationConflict(
            `host name ${reg.name} is registered for managed instance ${known.managedInstanceId}, not ${reg.managedInstanceId}`,
            { host: reg.name, registered: known.managedInstanceId, requested: reg.managedInstanceId },
          );
        }
        changed = REGISTRATION_FIELDS.filter(
          (f) => reg[f] !== undefined && !isDeepStrictEqual(known[f], reg[f]),
        );
        outcome = changed.length === 0 ? "unchanged" : "updated";
        if (changed.length === 0) return null;
        const x = new Expr();
        const sets = changed.map((f) => `${x.name(f)} = ${x.value(reg[f])}`);
        sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
        const next = parseHost({
          ...known,
          ...Object.fromEntries(changed.map((f) => [f, reg[f]])),
          version: known.version + 1,
        });
        const index = indexTerms(x, next);
        return {
          UpdateExpression: updateExpression([...sets, ...index.sets], index.removes),
          ConditionExpression: `${x.name("version")} = ${x.value(known.version)}`,
          ...x.attributes(),
        };
      },
    });
    if (changed.includes("fencing"))
      await this.fleet.setBmcNetworks(host.name, current.fencing.bmcNetworks, host.fencing.bmcNetworks);
    // Every registration notes the zone (idempotent), so hosts registered before zones were kept count too.
    await this.fleet.noteZone(host.availabilityZone);
    return { host, outcome, changed };
  }

  /**
   * Deletes a host record, only if it is still at `version` and holds no claim (deregistration checked
   * the instances first); a record changed meanwhile is ConcurrentUpdate.
   */
  async remove(name: string, version: number): Promise<void> {
    try {
      const out = await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: this.keyOf(name),
          ConditionExpression: "#v = :v",
          ExpressionAttributeNames: { "#v": "version" },
          ExpressionAttributeValues: { ":v": version },
          ReturnValues: "ALL_OLD",
        }),
      );
      if (out.Attributes) {
        await this.fleet.setBmcNetworks(name, parseHost(out.Attributes).fencing.bmcNetworks, []);
        await this.fleet.addHosts(-1);
      }
    } catch (e) {
      if ((e as Error).name === "ConditionalCheckFailedException") {
        throw new ConcurrentUpdate(`host ${name} changed while it was being deregistered`, { host: name });
      }
      throw e;
    }
  }

  /**
   * Every host (a consistent scan of the whole table): for tools, tests and operators' whole-fleet reports
   * only. No step of a flow and no periodic job reads it (docs/SCALE.md): they read the indexes below.
   */
  async list(): Promise<Host[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items.map((i) => this.parse(i)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Hosts by name, in the order asked, each read consistently (BatchGetItem, 100 keys a call); missing ones left out. */
  async getMany(names: readonly string[]): Promise<Host[]> {
    const unique = [...new Set(names)];
    const found = new Map<string, Host>();
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] = unique.slice(i, i + 100).map((n) => this.keyOf(n));
      for (let attempt = 0; keys.length > 0; attempt++) {
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          const h = this.parse(item);
          found.set(h.name, h);
        }
        keys = (out.UnprocessedKeys?.[this.table]?.Keys ?? []) as Record<string, unknown>[];
        if (keys.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      }
    }
    return names.flatMap((n) => {
      const h = found.get(n);
      return h ? [h] : [];
    });
  }

  /**
   * Schedulable hosts (enabled, up, not forced down: the index is sparse) of `zone`, or of the zone's shared
   * pool `pool`, most free RAM first, one page of at most `limit` names. Eventually consistent in AWS: the
   * scheduler re-reads each by key and claims conditionally.
   */
  async schedulablePage(
    where: { zone: string; pool: string | null },
    opts: { limit: number; start?: Record<string, unknown> },
  ): Promise<PlacementPage> {
    const byPool = where.pool !== null;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: byPool ? INDEX.hostsByPoolFree : INDEX.hostsByZoneFree,
        KeyConditionExpression: "#k = :k",
        ExpressionAttributeNames: { "#k": byPool ? "placementPool" : "placementZone" },
        ExpressionAttributeValues: { ":k": byPool ? poolKey(where.zone, where.pool!) : where.zone },
        ScanIndexForward: false,
        Limit: opts.limit,
        ...(opts.start ? { ExclusiveStartKey: opts.start } : {}),
      }),
    );
    return {
      hosts: (out.Items ?? []).map(placementView),
      ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
    };
  }

  /**
   * One page of the hosts that look dead since `from` or later (their open suspect incident opened then, or
   * their heartbeat alarm is on without one), with the status and incident the index projects. Eventually
   * consistent in AWS (docs/SCALE.md says why the mass-failure guard may read it so).
   */
  async suspectsPage(
    from: string,
    opts: { limit: number; start?: Record<string, unknown> },
  ): Promise<{ hosts: Pick<Host, "name" | "status" | "incident">[]; next?: Record<string, unknown> }> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX.hostsBySuspect,
        KeyConditionExpression: "#k = :k AND #s >= :from",
        ExpressionAttributeNames: { "#k": "suspect", "#s": "suspectSince" },
        ExpressionAttributeValues: { ":k": SUSPECT_KEY, ":from": from },
        Limit: opts.limit,
        ...(opts.start ? { ExclusiveStartKey: opts.start } : {}),
      }),
    );
    return {
      hosts: (out.Items ?? []).map((i) => ({
        name: String(i.name),
        status: i.status === "down" ? ("down" as const) : ("up" as const),
        incident: Host.shape.incident.parse(i.incident ?? null),
      })),
      ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
    };
  }

  /** The host registered for managed instance `id`, other than `except` (by-managed-instance index), or null. */
  async nameByManagedInstance(id: string, except?: string): Promise<string | null> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX.hostsByManagedInstance,
        KeyConditionExpression: "#k = :k",
        ExpressionAttributeNames: { "#k": "managedInstanceId" },
        ExpressionAttributeValues: { ":k": id },
      }),
    );
    const other = (out.Items ?? []).map((i) => String(i.name)).find((n) => n !== except);
    return other ?? null;
  }

  /**
   * One page of host names straight from the table (a Scan of at most `limit` items, keys only, from
   * `start`): for jobs that walk the fleet a page per run (the fleet sync) and paged lists.
   */
  async namesPage(opts: { limit: number; start?: Record<string, unknown> }): Promise<HostPage> {
    const out = await this.doc.send(
      new ScanCommand({
        TableName: this.table,
        ProjectionExpression: "#n",
        ExpressionAttributeNames: { "#n": "name" },
        Limit: opts.limit,
        ...(opts.start ? { ExclusiveStartKey: opts.start } : {}),
      }),
    );
    return {
      names: (out.Items ?? []).map((i) => String(i.name)),
      ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
    };
  }

  /**
   * An operator's forced_down (nova's `os-services` force-down, the CLI's `host force-down`): `proof` set
   * records it as the host's proof of death (kind `operator`) unless one is recorded already (which is kept:
   * the fence's or the lease's says more); null clears whatever proof the host has, and forced_down with it.
   */
  async forceDown(name: string, proof: DeathProof | null): Promise<Host> {
    const wanted = proof === null ? null : parseInput(DeathProof, proof, "death proof");
    return this.changeRecord(
      name,
      (current) => {
        if (wanted !== null && current.deathProof !== null) return null;
        if (wanted === null && current.deathProof === null && !current.forcedDown) return null;
        const x = new Expr();
        const t = servicePatchTerms(x, current, { deathProof: wanted });
        return {
          UpdateExpression: updateExpression(t.sets, t.removes),
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      { host: name },
    );
  }

  /**
   * Records that the host was reset and booted again at `at` (its clock) before instance recovery restarts
   * its guests in place there (`Host.lastReset`): one write, only while no proof of the host's death is
   * recorded and no incident is open (either one, and the host-failure flow or the operator decides). Those
   * conditions and the incident's own opening are writes on this one record, so they never interleave.
   * Repeating it (the same or an earlier boot) changes nothing.
   */
  async recordReset(
    name: string,
    at: string,
  ): Promise<{ outcome: "recorded" | "proven-dead" | "incident-open"; host: Host }> {
    const when = parseInput(IsoTime, at, "reset time");
    let outcome: "recorded" | "proven-dead" | "incident-open" = "recorded";
    const host = await this.changeRecord(
      name,
      (current) => {
        outcome = current.deathProof
          ? "proven-dead"
          : current.incident && OPEN_INCIDENT_STATUSES.includes(current.incident.status)
            ? "incident-open"
            : "recorded";
        if (outcome !== "recorded") return null;
        if (current.lastReset && Date.parse(current.lastReset.at) >= Date.parse(when)) return null;
        const x = new Expr();
        return {
          UpdateExpression: `SET ${x.name("lastReset")} = ${x.value({ at: when, recordedAt: this.now().toISOString() })}, ${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      { host: name },
    );
    return { outcome, host };
  }

  /**
   * Change the compute service fields (enabled, liveness, proof of death with forced down). Bumps version.
   * A change of what the indexes derive from (enabled, status, forced down) is decided on the record and
   * conditional on its version; a heartbeat time alone is written as it is.
   */
  async setService(name: string, patch: ServicePatch): Promise<Host> {
    if (touchesIndex(patch)) {
      return this.changeRecord(
        name,
        (current) => {
          const x = new Expr();
          const t = servicePatchTerms(x, current, patch);
          return {
            UpdateExpression: updateExpression(t.sets, t.removes),
            ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
            ...x.attributes(),
          };
        },
        { host: name },
      );
    }
    const x = new Expr();
    const sets = [
      ...servicePatchFields(patch).map(([k, v]) => `${x.name(k)} = ${x.value(v)}`),
      `${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
    ];
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
      return parseHost(out.Attributes ?? {});
    } catch (e) {
      if (isConditionalCheckFailed(e)) throw hostNotFound(name);
      throw e;
    }
  }

  /**
   * Adds a power action (a fence, an operator's status/off/on/cycle, a fence test) to the host's power log,
   * keeping the last POWER_LOG_KEEP. Conditional on the version read (a concurrent change is read again);
   * the same record id twice is written once.
   */
  async recordPower(name: string, record: PowerRecord): Promise<Host> {
    const entry = parseInput(PowerRecordSchema, record, "power record");
    return this.changeRecord(
      name,
      (current) => {
        if (current.powerLog.some((r) => r.id === entry.id && r.startedAt === entry.startedAt)) return null;
        const x = new Expr();
        return {
          UpdateExpression: `SET ${x.name("powerLog")} = ${x.value([...current.powerLog, entry].slice(-POWER_LOG_KEEP))}, ${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      { host: name },
    );
  }

  /** The fleet sync's finding on the host (null: in sync); written only when it changed. */
  async recordDrift(name: string, drift: HostDrift | null): Promise<Host> {
    const entry = drift === null ? null : parseInput(HostDrift, drift, "host drift");
    // The same finding again is not a change (its time aside): a sync every 5 minutes writes only news.
    const same = (a: HostDrift | null) =>
      isDeepStrictEqual(a && { ...a, at: "" }, entry && { ...entry, at: "" });
    return this.changeRecord(
      name,
      (current) => {
        if (same(current.drift)) return null;
        const x = new Expr();
        return {
          UpdateExpression: `SET ${x.name("drift")} = ${x.value(entry)}, ${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      { host: name },
    );
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
      /** A scheduled claim: the host must still be schedulable and as the filters saw it (else ClaimRefused). */
      expect?: PlacementExpectation;
      /**
       * The host as the caller read it (a consistent read, or the scheduler's index entry, which has no
       * claims): the claim is decided on it instead of on a read of its own. Everything that decision rests
       * on is also the write's condition (the claim absent, the usage under the limit of this capacity and
       * these ratios, the group's slot, `expect` and `expectUsage`), so a record that is no longer current
       * costs a refused write, answered with the item as it is (ALL_OLD) and decided on again.
       */
      known?: Host;
    } = {},
  ): Promise<ClaimResult> {
    const req = parseInput(ClaimRequest, request, "claim request");
    // What the change ended with: the claim already there, or the one it wrote.
    let result: { claim: Claim; created: boolean } | undefined;
    const host = await this.changeRecord(
      hostName,
      // Decided again on the item a refused write saw: a concurrent claim that took the room or the group
      // slot refuses now; a capacity/ratio change (or a release) that still leaves room is retried.
      (current) => {
        const verdict = evaluateClaim(current, req);
        if (verdict.kind === "already") {
          result = { claim: verdict.claim, created: false };
          return null;
        }
        if (verdict.kind === "refused") throw verdict.error;
        const mismatch = opts.expect ? placementMismatch(current, opts.expect) : null;
        if (mismatch !== null) {
          throw new ClaimRefused(
            `host ${hostName} can no longer take instance ${req.instanceUuid}: ${mismatch}`,
            {
              host: hostName,
              instanceUuid: req.instanceUuid,
              reason: "not-schedulable",
              detail: mismatch,
            },
          );
        }
        if (opts.expectUsage && !isDeepStrictEqual(current.usage, opts.expectUsage)) {
          throw new PlacementRaced(`host ${hostName} changed since it was weighed`, {
            host: hostName,
            expected: opts.expectUsage,
            usage: current.usage,
          });
        }
        const claim = parseInput(ClaimSchema, { ...req, claimedAt: this.now().toISOString() }, "claim");
        result = { claim, created: true };
        return claimUpdate(current, claim, opts.expectUsage, opts.expect);
      },
      { host: hostName, instanceUuid: req.instanceUuid },
      opts.known,
    );
    return { host, ...result! };
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
    let released: Claim | null = null;
    const host = await this.changeRecord(
      hostName,
      (current) => {
        const claim = current.claims[instanceUuid];
        released = claim && (opts.owner === undefined || claim.owner === opts.owner) ? claim : null;
        return released ? releaseUpdate(current, released) : null;
      },
      { host: hostName, instanceUuid },
    );
    return { host, released };
  }
}

/** The conditional write of a claim: never past the limit, whatever races it (see the top of this file). */
function claimUpdate(
  host: Host,
  claim: Claim,
  expectUsage?: Resources,
  expect?: PlacementExpectation,
): ConditionalUpdate<Host> {
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
  sets.push(freeRamTerm(x, host, -claim.resources.memoryMiB));
  const group = claim.serverGroup;
  if (group?.policy === "anti-affinity") {
    const slot = x.path("antiAffinity", group.id);
    const me = x.value(uuid);
    conditions.push(`(attribute_not_exists(${slot}) OR ${slot} = ${me})`);
    sets.push(`${slot} = ${me}`);
  }
  if (expect) {
    // What the scheduler chose it for, on the item itself (its index may lag).
    conditions.push(
      `${x.name("enabled")} = ${x.value(true)}`,
      `${x.name("forcedDown")} = ${x.value(false)}`,
      `${x.name("status")} = ${x.value("up")}`,
      `${x.name("availabilityZone")} = ${x.value(expect.availabilityZone)}`,
      `${x.name("virtType")} = ${x.value(expect.virtType)}`,
      `${x.name("supportsRecreate")} = ${x.value(expect.supportsRecreate)}`,
      `${x.path("storage", "sharedPoolId")} = ${x.value(expect.sharedPoolId)}`,
    );
  }
  sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
  return {
    UpdateExpression: `SET ${sets.join(", ")}`,
    ConditionExpression: conditions.join(" AND "),
    ...x.attributes(),
  };
}

/** The conditional write that removes a claim: only the very claim read (owner and time), with its slot. */
function releaseUpdate(host: Host, claim: Claim): ConditionalUpdate<Host> {
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
  sets.push(freeRamTerm(x, host, claim.resources.memoryMiB));
  sets.push(`${x.name("version")} = ${x.name("version")} + ${x.value(1)}`);
  const group = claim.serverGroup;
  if (group?.policy === "anti-affinity" && host.antiAffinity[group.id] === uuid) {
    const slot = x.path("antiAffinity", group.id);
    conditions.push(`${slot} = ${x.value(uuid)}`);
    removes.push(slot);
  }
  return {
    UpdateExpression: `SET ${sets.join(", ")} REMOVE ${removes.join(", ")}`,
    ConditionExpression: conditions.join(" AND "),
    ...x.attributes(),
  };
}
