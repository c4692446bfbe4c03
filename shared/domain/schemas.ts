/** The records Lazarus keeps, as zod schemas; the TypeScript types are inferred from them. */
import { z } from "zod";
import { BmcNetworks, type BmcPowerKind, BmcSettings, isBmcPowerKind } from "./bmc.js";
import { MIGRATION_STATUSES, MIGRATION_TYPES, POWER_STATES, TASK_STATES, VM_STATES } from "./states.js";
import {
  AbsolutePath,
  DiskDevice,
  ImageRef,
  IsoTime,
  LibvirtUri,
  MacAddress,
  ManagedInstanceId,
  NetworkAddress,
  ResourceName,
  Uuid,
} from "./values.js";

// ---- proofs (shared/domain/fencing.ts decides them) ------------------------------------------------

/** What proves a host dead: its fence powered it off, its watchdog's lease ran out, an operator said so. */
export const HOST_PROOF_KINDS = ["power", "lease", "operator"] as const;
export type HostProofKind = (typeof HOST_PROOF_KINDS)[number];
/** What an instance's evacuation may rely on: its host's proof, or (shared disk under a lock) the lock. */
export const PROOF_KINDS = [...HOST_PROOF_KINDS, "lock"] as const;
export type ProofKind = (typeof PROOF_KINDS)[number];
/** What admitted an evacuation (Migration.proof): a proof kind, or instance recovery's removed domain. */
export const MIGRATION_PROOF_KINDS = [...PROOF_KINDS, "relocation"] as const;
export type MigrationProofKind = (typeof MIGRATION_PROOF_KINDS)[number];

export const VmStateSchema = z.enum(VM_STATES);
export const TaskStateSchema = z.enum(TASK_STATES);
export const PowerStateSchema = z.enum(POWER_STATES);
export const MigrationStatusSchema = z.enum(MIGRATION_STATUSES);
export const MigrationTypeSchema = z.enum(MIGRATION_TYPES);

export const Resources = z.object({
  vcpus: z.number().int().nonnegative(),
  memoryMiB: z.number().int().nonnegative(),
  diskGiB: z.number().int().nonnegative(),
});
export type Resources = z.infer<typeof Resources>;

export const Flavor = z.object({
  vcpus: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  diskGiB: z.number().int().positive(),
});
export type Flavor = z.infer<typeof Flavor>;

export const ServerGroup = z.object({
  id: ResourceName,
  /** nova's policies: hard ones are filters (NoValidHost when they cannot hold), soft ones weighers. */
  policy: z.enum(["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]),
});
export type ServerGroup = z.infer<typeof ServerGroup>;

export const InstanceFault = z.object({
  code: z.number().int(),
  /** The error's name, e.g. NoValidHost, InstanceExists. */
  error: z.string(),
  message: z.string(),
  /** The flow step that failed, e.g. "schedule", "spawn". */
  step: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
  createdAt: IsoTime,
});
export type InstanceFault = z.infer<typeof InstanceFault>;

/** A volume in an instance's block device mapping: which volume, at which guest device. */
export const BlockDeviceMapping = z.object({
  volumeId: Uuid,
  device: DiskDevice,
  /** nova's delete_on_termination: deleting the instance deletes the volume (else it is left available). */
  deleteOnTermination: z.boolean().default(false),
});
export type BlockDeviceMapping = z.infer<typeof BlockDeviceMapping>;

/**
 * An evacuation found the instance's disk still held by a running copy (the target refused it: a disk lock),
 * or host-evacuation has no proof yet that its host is dead (shared/domain/fencing.ts) and did not start it
 * elsewhere: the instance waits for its host to be fenced, then can be evacuated again.
 * Set with the fault `FencingRequired` by the flow's end (shared/flow/end-flow.ts), cleared when an
 * evacuation finishes.
 */
export const FencingRequiredState = z.object({
  /** The host that still holds the disk: the one the record names. */
  host: ResourceName,
  /** The target that refused the disk; null: no target was tried (no proof of the host's death yet). */
  refusedBy: ResourceName.nullable(),
  requestId: Uuid,
  since: IsoTime,
});
export type FencingRequiredState = z.infer<typeof FencingRequiredState>;

/** A target left unproven by a failed evacuation: the host and the flow (its claim's owner). */
export const UncleanTarget = z.object({ host: ResourceName, requestId: z.string().min(1) });
export type UncleanTarget = z.infer<typeof UncleanTarget>;
/** More would mean an evacuation failing again and again without cleaning: each one is refused before. */
export const MAX_UNCLEAN_TARGETS = 10;

export const Instance = z.object({
  uuid: Uuid,
  name: ResourceName,
  /** Compute host the instance belongs to (nova: instance.host). */
  host: ResourceName,
  /** Hypervisor node name (nova: instance.node); one node per host here. */
  node: ResourceName,
  availabilityZone: ResourceName,
  flavor: Flavor,
  imageRef: ImageRef,
  vmState: VmStateSchema,
  taskState: TaskStateSchema.nullable(),
  /** The flow request (rebuild/evacuate requestId) that owns the current task; null with no task. */
  taskRequestId: Uuid.nullable().default(null),
  /**
   * The Step Functions execution of that flow: the sweeper asks whether it still runs, so a task whose
   * flow ended without finishing (stopped, timed out, crashed) is never held for ever.
   */
  taskExecutionArn: z.string().nullable().default(null),
  /**
   * Who is ending that task's flow, when it did not finish (shared/flow/task-ending.ts): a migrate flow
   * can be ended by its own failure handler, by a host evacuation, or by the sweeper, and only one may act
   * on the hosts. Meaningful only while `requestId` is the task's: a released task leaves it stale.
   */
  taskEnding: z
    .object({ requestId: Uuid, by: z.string().min(1), at: IsoTime })
    .nullable()
    .default(null),
  /** The last flow request that finished on this instance (set with the record's move to the target). */
  lastRequestId: Uuid.nullable().default(null),
  /** nova's lock: a locked instance cannot be rebuilt (evacuation, an admin action, is allowed). */
  locked: z.boolean().default(false),
  powerState: PowerStateSchema,
  /** Port ids, in the order their NICs appear in the domain. */
  ports: z.array(Uuid),
  volumes: z.array(BlockDeviceMapping),
  serverGroup: ServerGroup.nullable(),
  /** Masakari's HA flag: only these are evacuated by a host-failure flow with policy "ha-only". */
  haEnabled: z.boolean(),
  /** Restart order after a host failure: higher first; equal priorities restart together (default 0). */
  haPriority: z.number().int().min(0).max(1000).default(0),
  /**
   * Instance failure (a crashed guest on a live host, shared/domain/instance-failure.ts): `ha` null follows
   * `haEnabled`; up to `maxRestart` restarts in place, then up to `maxRelocate` relocations, per window.
   */
  instanceHa: z
    .object({
      ha: z.boolean().nullable().default(null),
      maxRestart: z.number().int().min(0).max(10).default(1),
      maxRelocate: z.number().int().min(0).max(10).default(1),
    })
    .default({ ha: null, maxRestart: 1, maxRelocate: 1 }),
  /** What the operator says about where the disk lives; null = detect on the target host. */
  onSharedStorage: z.boolean().nullable(),
  launchedAt: IsoTime.nullable(),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  /** Bumped by every write; conditional writes expect the version they read. */
  version: z.number().int().nonnegative(),
  fault: InstanceFault.nullable(),
  /** "fencing required": null unless an evacuation was refused by the disk lock (FencingRequiredState). */
  fencingRequired: FencingRequiredState.nullable().default(null),
  /**
   * Targets a failed evacuation gave up on without proving them clean (a copy may be there): each keeps the
   * flow's claim, and the next evacuation cleans it and releases that claim before it tries any other host.
   */
  uncleanTargets: z.array(UncleanTarget).max(MAX_UNCLEAN_TARGETS).default([]),
  /** nova's server metadata (the API's `metadata`; set at create, replaced by a rebuild that gives it). */
  metadata: z.record(z.string().max(255), z.string().max(255)).default({}),
  /** The catalog flavor it was built with (shared/domain/catalog.ts); null: adopted, resources only. */
  flavorId: z.string().max(255).nullable().default(null),
});
export type Instance = z.infer<typeof Instance>;

/**
 * An instance that holds nothing on any host: deleted (its record kept, as nova keeps its row), or a build
 * that failed and was undone (ERROR, never launched, no port or volume left: the boot flow released its
 * claim and its host is clean). One that failed but still lists its ports kept everything on purpose
 * (its host could not be cleaned) and holds what it lists. Syncs, plans and audits leave these alone.
 */
export function holdsNothing(i: Instance): boolean {
  if (i.vmState === "deleted") return true;
  const undone = i.vmState === "error" && i.launchedAt === null && i.fault?.error !== "BootTargetNotClean";
  return undone && i.ports.length === 0 && i.volumes.length === 0;
}

export const HostStorage = z.object({
  /** Where instance folders live (`<instancesPath>/<uuid>/disk`). Hosts of one shared pool see the same folder. */
  instancesPath: AbsolutePath,
  /** Hosts with the same pool id see the same instancesPath; null = local disk only. */
  sharedPoolId: ResourceName.nullable(),
  /** Base images: `<imageCachePath>/<imageRef>.qcow2` (nova's `_base`). */
  imageCachePath: AbsolutePath,
  /** Where volumes (block devices of the volume service) are reachable from this host. */
  volumesPath: AbsolutePath,
});
export type HostStorage = z.infer<typeof HostStorage>;

export const AllocationRatios = z.object({
  cpu: z.number().positive(),
  ram: z.number().positive(),
  disk: z.number().positive(),
});
export type AllocationRatios = z.infer<typeof AllocationRatios>;

/** One instance's claim on a host; usage is always the sum of these. */
export const Claim = z.object({
  instanceUuid: Uuid,
  resources: Resources,
  /** The migration (or boot) that made the claim; a retried claim with the same owner is a no-op. */
  owner: z.string().min(1),
  serverGroup: ServerGroup.nullable(),
  claimedAt: IsoTime,
});
export type Claim = z.infer<typeof Claim>;

export const HostStatus = z.enum(["up", "down"]);
export type HostStatus = z.infer<typeof HostStatus>;

/**
 * A host failure being handled (host-failure flow, shared/domain/host-failure.ts). At most one incident is
 * open per host: the conditional write that opens it is what makes duplicate alarms start one evacuation.
 */
export const HOST_INCIDENT_STATUSES = [
  /** Heartbeat stale: waiting out the grace period, then probing the host. */
  "confirming",
  /** Found dead (probe); disabled and marked down (forced down once a proof is recorded); its instances are being evacuated. */
  "evacuating",
  /** Evacuation ended (report in `summary`); the host stays disabled until it returns and is cleaned. */
  "evacuated",
  /** Not dead after all (heartbeat back within the grace period, or the host answered a probe). */
  "not-dead",
  /** The flow itself failed before evacuating; a later alarm may open a new incident. */
  "aborted",
  /** The host returned and its stale domains were removed (host-recovery flow). */
  "closed",
  /**
   * Mass-failure guard (shared/domain/fencing.ts): too much of the fleet looks dead at once; nothing is
   * fenced or evacuated automatically. An operator's request may still evacuate the host.
   */
  "held",
] as const;
export const HostIncidentStatus = z.enum(HOST_INCIDENT_STATUSES);
export type HostIncidentStatus = z.infer<typeof HostIncidentStatus>;

/** Incident statuses during which the host belongs to one incident: any other request is a duplicate. */
export const OPEN_INCIDENT_STATUSES: readonly HostIncidentStatus[] = [
  "confirming",
  "evacuating",
  "evacuated",
];

/**
 * Who opened an incident: a heartbeat alarm, a peer's report (both automatic: the mass-failure guard may
 * hold them), or an operator's request (never held).
 */
export const INCIDENT_SOURCES = ["alarm", "peer", "operator"] as const;
export type IncidentSource = (typeof INCIDENT_SOURCES)[number];

export const HostIncident = z.object({
  /** Derived from the alarm transition or the peer's report (or given by the operator's request): duplicates share it. */
  id: z.string().min(1).max(80),
  status: HostIncidentStatus,
  source: z.enum(INCIDENT_SOURCES),
  reason: z.string().nullable(),
  /** The host-evacuation execution that owns the incident. */
  executionName: z.string().nullable(),
  openedAt: IsoTime,
  updatedAt: IsoTime,
  /** Counts and names from the evacuation report, and the recovery's clean-up. */
  summary: z.record(z.string(), z.unknown()).nullable(),
});
export type HostIncident = z.infer<typeof HostIncident>;

/** The power fence kinds: none, EC2's StopInstances (`ec2`; `local`: the local cloud's EC2 endpoint), a BMC. */
export const POWER_FENCES = ["none", "ec2", "local", "ipmi", "redfish"] as const satisfies readonly (
  | "none"
  | "ec2"
  | "local"
  | BmcPowerKind
)[];
export type PowerFence = (typeof POWER_FENCES)[number];

/** The fields of `HostFencing` (a settings file or a registration may give any of them). */
export const HostFencingFields = z.object({
  /**
   * How the control plane can power the host off: ec2:StopInstances, the local cloud's EC2 endpoint, the
   * host's BMC through a fence agent run by a delegate host (`ipmi`: fence_ipmilan, `redfish`:
   * fence_redfish; `bmc` says where), or not at all.
   */
  power: z.enum(POWER_FENCES),
  /**
   * What registration declared: the host arms a watchdog device (lazarus-host feeds it after accepted
   * heartbeats; unfed, the node resets). Informational only: the `lease` proof is counted from the host's
   * own heartbeats (their value is the armed watchdog's timeout), never from this.
   */
  watchdog: z.boolean(),
  /** The hosts of its shared pool enforce the disk image lock: a target refuses a disk another host holds. */
  diskLocks: z.boolean(),
  /** The host's BMC (power `ipmi` or `redfish`), null otherwise. */
  bmc: BmcSettings.nullable().default(null),
  /**
   * The BMC networks this host reaches: it may be the delegate that fences (or powers on) a host whose BMC
   * is on one of them. Empty: it fences nobody.
   */
  bmcNetworks: BmcNetworks.default([]),
});

/** How death can be proven for a host (shared/domain/fencing.ts); a BMC fence names its BMC. */
export const HostFencing = HostFencingFields.superRefine((f, ctx) => {
  if (isBmcPowerKind(f.power) && f.bmc === null)
    ctx.addIssue({
      code: "custom",
      path: ["bmc"],
      message: `power "${f.power}" needs bmc: {address, network, username, credentials, ...}`,
    });
  if (!isBmcPowerKind(f.power) && f.bmc !== null)
    ctx.addIssue({ code: "custom", path: ["bmc"], message: `bmc is only for power "ipmi" or "redfish"` });
  if (f.power !== "redfish" && f.bmc?.systemsUri)
    ctx.addIssue({ code: "custom", path: ["bmc", "systemsUri"], message: "systemsUri is a Redfish option" });
});
export type HostFencing = z.infer<typeof HostFencing>;
export const NO_FENCING: HostFencing = {
  power: "none",
  watchdog: false,
  diskLocks: false,
  bmc: null,
  bmcNetworks: [],
};

/** What an operator (or the fence) asks of a host's power controller. `fence`: the host-evacuation's off. */
export const POWER_ACTIONS = ["status", "off", "on", "cycle", "fence", "fence-test"] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** How a power action ended: the power state confirmed, or why not ("unavailable": no delegate could run it). */
export const POWER_OUTCOMES = ["on", "off", "failed", "timed-out", "unsupported", "unavailable"] as const;
export type PowerOutcome = (typeof POWER_OUTCOMES)[number];

/** One answer on the way: a fence agent call on a delegate, a delegate that could not run it, an EC2 call. */
export const PowerAnswer = z.object({
  /** The delegate host that ran the agent; null for the EC2 API (called by the control plane itself). */
  delegate: ResourceName.nullable(),
  /** The agent's action (off, on, status, reboot), `credentials`, `delivery` (SSM), or the EC2 call. */
  step: z.string().min(1).max(40),
  at: IsoTime,
  /** The agent's exit code (fence agents: 0 done / on, 2 off, 1 failed); null when nothing ran. */
  exitCode: z.number().int().nullable(),
  /** Its last line of output, or the error. */
  answer: z.string().max(400),
});
export type PowerAnswer = z.infer<typeof PowerAnswer>;

/** One power action on a host, as the host record keeps it (the last POWER_LOG_KEEP of them). */
export const PowerRecord = z.object({
  /** The request id (API) or the incident and round (fence). */
  id: z.string().min(1).max(120),
  action: z.enum(POWER_ACTIONS),
  /** Who asked: the API caller, or `incident <id>`. */
  requestedBy: z.string().max(300),
  method: z.enum(POWER_FENCES),
  outcome: z.enum(POWER_OUTCOMES),
  /** The delegate whose agent gave the outcome (the last one tried when none did); null for EC2. */
  delegate: ResourceName.nullable(),
  startedAt: IsoTime,
  endedAt: IsoTime,
  detail: z.string().max(2000),
  answers: z.array(PowerAnswer).max(60),
});
export type PowerRecord = z.infer<typeof PowerRecord>;
export const POWER_LOG_KEEP = 20;

/**
 * The host is proven dead (shared/domain/fencing.ts): its power fence confirmed it off (`power`), its
 * heartbeats said its watchdog was armed and the lease ran out (`lease`), or an operator said it is off
 * (`operator`: nova's `forced_down`). Recorded on the host with `forcedDown: true` in the same write; only
 * a recorded proof lets an instance on a local disk be evacuated. Cleared (with `forcedDown`) when an
 * operator unsets forced_down or when host-recovery has cleaned the returned host.
 */
export const DeathProof = z.object({
  kind: z.enum(HOST_PROOF_KINDS),
  /** When it became proof: the fence's answer, the lease's expiry, the operator's request. */
  at: IsoTime,
  /** The host-failure incident that found it (operator: the incident open then, if any). */
  incidentId: z.string().min(1).max(80).nullable(),
  /** What proved it, for reports (operator: who said so, and through what). */
  detail: z.string().max(2000),
});
export type DeathProof = z.infer<typeof DeathProof>;

/**
 * How other hosts live-migrate a guest to this host (nova's `live_migration_uri` and
 * `live_migration_inbound_addr`); null on a host = it takes no live migration (cold migration only).
 */
export const HostLiveMigration = z.object({
  /** The URI of this host's libvirtd as its peers reach it (`virsh migrate --p2p`'s destination). */
  uri: LibvirtUri,
  /** Where this host's qemu listens for an incoming guest (`--listen-address`, and the migration URI's host). */
  inboundAddress: NetworkAddress,
  /**
   * The shared pool is a folder of one machine shared by the hosts' Unix users (the local cloud): libvirt
   * cannot tell it is shared and refuses it as "unsafe" unless told (`virsh migrate --unsafe`). Never true
   * on a real fleet, whose pools are NFS or cluster file systems libvirt recognises.
   */
  poolIsLocalFolder: z.boolean().default(false),
});
export type HostLiveMigration = z.infer<typeof HostLiveMigration>;

/**
 * Planned maintenance of a host (issue 32, shared/domain/maintenance.ts): `draining` while the host-drain
 * flow moves its instances away (a real failure meanwhile still evacuates what is left), `maintenance` once
 * it holds none (its heartbeat alarm starts no evacuation: the host may be powered off for its repair),
 * `incomplete` when the drain ended with instances left on it (they are evacuated if it fails). The host
 * is disabled throughout; undrain clears it and enables the host.
 */
export const HostMaintenance = z.object({
  state: z.enum(["draining", "maintenance", "incomplete"]),
  reason: z.string().max(255).nullable(),
  since: IsoTime,
  /** The host-drain execution that drains (or drained) it. */
  executionName: z.string().min(1).max(80),
  /** The instances the drain moved away: what `undrain --return` brings back. */
  moved: z.array(Uuid),
});
export type HostMaintenance = z.infer<typeof HostMaintenance>;

/**
 * What the last fleet sync that recorded (functions/inventory/sync.ts, not a report-only run) found on the
 * host and left for an operator: domains no record places here (or stale copies of instances placed
 * elsewhere), and instances placed here whose domain is missing. Power-state drift it records itself.
 */
export const HOST_DRIFT_KEEP = 50;
export const HostDrift = z.object({
  at: IsoTime,
  unknownDomains: z
    .array(z.object({ uuid: Uuid, recordedHost: ResourceName.nullable() }))
    .max(HOST_DRIFT_KEEP),
  missingDomains: z.array(z.object({ instanceUuid: Uuid, name: ResourceName })).max(HOST_DRIFT_KEEP),
});
export type HostDrift = z.infer<typeof HostDrift>;

export const Host = z.object({
  name: ResourceName,
  managedInstanceId: ManagedInstanceId,
  virtType: z.enum(["qemu", "kvm"]),
  supportsRecreate: z.boolean(),
  availabilityZone: ResourceName,
  capacity: Resources,
  allocationRatios: AllocationRatios,
  usage: Resources,
  claims: z.record(Uuid, Claim),
  /** server group id -> the one member of that anti-affinity group placed here. */
  antiAffinity: z.record(ResourceName, Uuid),
  enabled: z.boolean(),
  disabledReason: z.string().nullable(),
  /** nova's forced_down: true exactly while `deathProof` is set (the hosts store writes both together). */
  forcedDown: z.boolean(),
  /** Proof that the host is dead (DeathProof); null = none. */
  deathProof: DeathProof.nullable().default(null),
  /** Compute service liveness as the heartbeat monitor last saw it. */
  status: HostStatus,
  lastHeartbeatAt: IsoTime.nullable(),
  storage: HostStorage,
  /** The open (or last) host-failure incident; null = none ever. */
  incident: HostIncident.nullable().default(null),
  /**
   * The host's last reset that instance recovery acted on (guests restarted in place after the host booted
   * again): `at` is the boot's time on the host's clock. Heartbeats from before it are no evidence of a lease
   * (shared/domain/fencing.ts `hostProof`): the node reset, but guests run on it again. null = none.
   */
  lastReset: z.object({ at: IsoTime, recordedAt: IsoTime }).nullable().default(null),
  fencing: HostFencing.default(NO_FENCING),
  /** How a guest is live-migrated to this host; null: it takes cold migrations only. */
  liveMigration: HostLiveMigration.nullable().default(null),
  /** Planned maintenance (drain); null: in service as `enabled` says. */
  maintenance: HostMaintenance.nullable().default(null),
  /** The last power actions on the host (fences, operators' status/off/on/cycle, fence tests), oldest first. */
  powerLog: z.array(PowerRecord).max(POWER_LOG_KEEP).default([]),
  /** The drift the last recording fleet sync found here (HostDrift); null: none, or never synced. */
  drift: HostDrift.nullable().default(null),
  version: z.number().int().nonnegative(),
});
export type Host = z.infer<typeof Host>;

export const PortStatus = z.enum(["ACTIVE", "DOWN", "BUILD"]);
export const Port = z.object({
  id: Uuid,
  /** Stored absent while unbound (the by-instance index is sparse), read back as null. */
  instanceUuid: Uuid.nullable().default(null),
  mac: MacAddress,
  network: ResourceName,
  /** neutron's binding:host_id. */
  bindingHost: ResourceName.nullable(),
  status: PortStatus,
  /** A port the caller gave at boot (neutron's preserve_on_delete): deleting the instance unbinds it. */
  preserveOnDelete: z.boolean().default(false),
  version: z.number().int().nonnegative(),
});
export type Port = z.infer<typeof Port>;

export const VolumeAttachment = z.object({
  attachmentId: Uuid,
  instanceUuid: Uuid,
  host: ResourceName,
  device: DiskDevice,
  status: z.enum(["attached", "detached"]),
  attachedAt: IsoTime,
  detachedAt: IsoTime.nullable(),
});
export type VolumeAttachment = z.infer<typeof VolumeAttachment>;

export const Volume = z.object({
  id: Uuid,
  name: ResourceName,
  sizeGiB: z.number().int().positive(),
  /** File name of the volume under each host's `storage.volumesPath`. */
  backingFile: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
  status: z.enum(["available", "in-use", "error"]),
  attachments: z.array(VolumeAttachment),
  version: z.number().int().nonnegative(),
});
export type Volume = z.infer<typeof Volume>;

/** A finished cold migration's confirm or revert: its request id (a revert's execution name) and when. */
export const MigrationFollowUp = z.object({
  action: z.enum(["confirmResize", "revertResize"]),
  requestId: Uuid,
  at: IsoTime,
});
export type MigrationFollowUp = z.infer<typeof MigrationFollowUp>;

export const Migration = z.object({
  id: Uuid,
  instanceUuid: Uuid,
  type: MigrationTypeSchema,
  sourceHost: ResourceName,
  sourceNode: ResourceName,
  destHost: ResourceName.nullable(),
  destNode: ResourceName.nullable(),
  status: MigrationStatusSchema,
  /** Hosts the flow tried and gave up on (claim refused, unreachable, spawn failed). */
  attemptedHosts: z.array(ResourceName),
  /** The Step Functions execution running the flow. */
  executionArn: z.string().nullable().default(null),
  /**
   * An evacuation: the proof that no other copy runs which admitted it (shared/flow/admission.ts): the
   * source host's recorded proof (power, lease, operator), the target's disk lock (lock), or instance
   * recovery's removal of the domain from its live source (relocation). null: a rebuild.
   */
  proof: z
    .object({ kind: z.enum(MIGRATION_PROOF_KINDS), detail: z.string().max(2000) })
    .nullable()
    .default(null),
  error: z.string().nullable(),
  /**
   * A finished cold migration's confirm or revert (nova lists each as an instance action of its own):
   * its request id (a revert's is its execution's name) and when it was asked for.
   */
  followUps: z.array(MigrationFollowUp).default([]),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  version: z.number().int().nonnegative(),
});
export type Migration = z.infer<typeof Migration>;

/** One thing an instance recovery tried (shared/domain/instance-failure.ts). */
export const RecoveryAttempt = z.object({
  action: z.enum(["restart", "relocate"]),
  host: ResourceName,
  at: IsoTime,
  outcome: z.enum(["succeeded", "failed"]),
  error: z.string().nullable(),
});
export type RecoveryAttempt = z.infer<typeof RecoveryAttempt>;

export const RECOVERY_STATUSES = [
  /** Opened by the first delivery of a crash report; the flow is deciding or acting. */
  "recovering",
  /** The report was not a failure (asked for, not HA, moved, busy); nothing was done. */
  "ignored",
  /** A reset host's report waits for the host's open incident to end before it is decided. */
  "waiting",
  /** The domain ran again when probed: nothing to do. */
  "not-needed",
  /** Too many crashes on the host: handed over to the host-failure policy. */
  "storm",
  /** The source domain is proven gone; the rebuild machine is recreating the instance elsewhere. */
  "relocating",
  "restarted",
  "relocated",
  /** Gave up (ERROR with a fault saying what was tried), or the flow itself failed. */
  "failed",
] as const;
export const RecoveryStatus = z.enum(RECOVERY_STATUSES);
export type RecoveryStatus = z.infer<typeof RecoveryStatus>;

/**
 * One crash of one instance and what Lazarus did about it (table `recoveries`). Its id is derived from the
 * crash (`recoveryId`), so the conditional create is what makes duplicate reports start one recovery; its
 * attempts are what the restart/relocate budget counts; the API lists restarts as instance actions.
 */
export const Recovery = z.object({
  id: Uuid,
  instanceUuid: Uuid,
  host: ResourceName,
  /** libvirt's reason (Failed, Crashed, Shutdown). */
  reason: z.string(),
  stoppedAt: IsoTime,
  /** When the report reached the control plane (the window and the storm guard count these). */
  detectedAt: IsoTime,
  status: RecoveryStatus,
  /** Why it ended as it did (the classification, the decision, the error). */
  message: z.string().nullable(),
  executionArn: z.string().nullable(),
  attempts: z.array(RecoveryAttempt),
  /** Written once the domain is proven gone from the live source: the rebuild machine's Accept checks it. */
  relocation: z.object({ requestId: Uuid, sourceHost: ResourceName, sourceRemovedAt: IsoTime }).nullable(),
  updatedAt: IsoTime,
  version: z.number().int().nonnegative(),
});
export type Recovery = z.infer<typeof Recovery>;

/** One event of an instance action (nova's instance_action_events): a step and how it ended. */
export const InstanceActionEvent = z.object({
  event: z.string().min(1).max(255),
  startTime: IsoTime,
  finishTime: IsoTime.nullable(),
  result: z.enum(["Success", "Error"]).nullable(),
  /** Why it failed (or what was not done), for the operator. */
  traceback: z.string().nullable(),
  host: ResourceName.nullable(),
});
export type InstanceActionEvent = z.infer<typeof InstanceActionEvent>;

/** A requested port of a server being built: on a network (a new port) or an existing unbound port. */
export const BuildPort = z.union([
  z.object({ network: ResourceName }).strict(),
  z.object({ portId: Uuid }).strict(),
]);
export type BuildPort = z.infer<typeof BuildPort>;

/** A volume of a server being built: an existing available volume, or a new blank one of `sizeGiB`. */
export const BuildVolume = z.union([
  z.object({ volumeId: Uuid, device: DiskDevice, deleteOnTermination: z.boolean().default(false) }).strict(),
  z
    .object({
      blankGiB: z.number().int().min(1).max(1024),
      device: DiskDevice,
      deleteOnTermination: z.boolean().default(false),
    })
    .strict(),
]);
export type BuildVolume = z.infer<typeof BuildVolume>;

/**
 * What a server is built from (nova's build request): the API's `POST /servers` resolved against the
 * catalog (shared/domain/catalog.ts). Also the boot state machine's input, with its request id.
 */
export const BuildSpec = z
  .object({
    instanceUuid: Uuid,
    name: ResourceName,
    flavorId: z.string().min(1).max(255),
    imageRef: ImageRef,
    /** The zone asked for; null: any. */
    availabilityZone: ResourceName.nullable(),
    /** The host asked for (nova 2.74 `host`, or `zone:host`): the only candidate, still filtered. */
    host: ResourceName.nullable().default(null),
    ports: z.array(BuildPort).max(8),
    volumes: z.array(BuildVolume).max(8),
    /** The existing server group to join (scheduler hint `group`). */
    serverGroup: ServerGroup.nullable(),
    metadata: z.record(z.string().max(255), z.string().max(255)).default({}),
    haEnabled: z.boolean().default(true),
    /** The instance is left STOPPED once built (Lazarus's; nova always starts it). */
    stopped: z.boolean().default(false),
  })
  .strict();
export type BuildSpec = z.infer<typeof BuildSpec>;

/**
 * nova's instance action (`openstack server event list`) for what has no migration record: create,
 * delete, reboot, stop, start, lock, unlock (rebuild and evacuate are their migrations; an action with
 * the same request id adds events to those, e.g. the admin password that was not set).
 * A create action also carries the server's build until the boot flow has placed it on a host (nova's
 * build request): `GET /servers/{id}` shows it from there while no instance record exists, and in ERROR
 * with its fault when the build failed before a host was chosen (NoValidHost).
 */
export const InstanceAction = z.object({
  /** The request id (also the flow's execution name where a flow runs it). */
  id: Uuid,
  instanceUuid: Uuid,
  action: z.string().min(1).max(64),
  startTime: IsoTime,
  updatedAt: IsoTime,
  /** null while running or when it succeeded; "Error" when it failed (nova's). */
  message: z.string().nullable(),
  events: z.array(InstanceActionEvent),
  executionArn: z.string().nullable().default(null),
  build: z
    .object({
      spec: BuildSpec,
      /** building: not placed yet; placed: the instance record exists; failed: never placed (fault). */
      status: z.enum(["building", "placed", "failed", "deleted"]),
      /**
       * The host the boot claims on, named before the claim is tried (write-ahead): a retried ScheduleBoot
       * keeps the claim it finds there, and the boot's failure end releases it there. null: none tried yet.
       */
      targetHost: ResourceName.nullable().default(null),
      fault: InstanceFault.nullable(),
    })
    .nullable()
    .default(null),
  version: z.number().int().nonnegative(),
});
export type InstanceAction = z.infer<typeof InstanceAction>;
