/**
 * Every Lambda function of Lazarus as data: its id, the module and export of its handler, and the
 * `${Placeholder}` that the ASL files use for its ARN. The CDK stack and the local cloud both read this
 * list; neither defines a function the other does not know. Add a function here and both pick it up.
 */

import { PEER_SILENT_EVENT } from "../domain/host-failure.js";
import type { TableId } from "../store/tables.js";
import type { TriggerRule } from "./events.js";
import { heartbeatAlarmPattern } from "./heartbeat.js";
import { DOMAIN_STOPPED_EVENT } from "./instance-failure.js";

/**
 * The adapters a function builds, and so what its least-privilege role in the CDK stack allows: each entry
 * grants exactly the actions that adapter calls (`shared/definitions/adapters.ts`, checked against the
 * adapters' code), on the resources named here. A reader learns from it what a step can change.
 */
/** "write" includes read; "remove" includes write, and deletes records outright (TABLE_SPECS `remove`). */
export type TableAccess = "read" | "write" | "remove";

export interface FunctionAccess {
  /** The stores it uses, by table: "read" = the table's read actions, "write" = its read and write actions. */
  tables?: Partial<Record<TableId, TableAccess>>;
  /**
   * The host documents it sends (ids of ssm-documents/index.ts), through SSM Run Command to tagged hosts
   * only: exactly the documents its code sends (test/unit/cdk/host-documents.test.ts reads its bundle).
   */
  hostDocuments?: readonly string[];
  /** Reads managed-instance information: agent state and the KVM host tag (host registration). */
  describeHosts?: boolean;
  /** Publishes events on the Lazarus event bus (notifications, operator alerts). */
  publishEvents?: boolean;
  /** Starts executions of these state machines (ids of shared/definitions/state-machines.ts). */
  startExecutions?: string[];
  /**
   * Reads executions of Lazarus's machines: "status" (DescribeExecution: is its flow still running?) or
   * "history" (also GetExecutionHistory: the API's execution views).
   */
  readExecutions?: "status" | "history";
  /** Reads the hosts' heartbeat metric (GetMetricData). Only the hosts write it; no function does. */
  heartbeats?: "read";
  /**
   * Creates and deletes the hosts' alarms (registration): cloudwatch:PutMetricAlarm / DeleteAlarms on the
   * deployment's `<prefix>-heartbeat-*` alarms (a host's only alarm).
   */
  hostAlarms?: boolean;
  /**
   * Sets a host's heartbeat alarm to ALARM (cloudwatch:SetAlarmState on the same alarms) once the flow proved
   * the host dead before its alarm fired (a peer's report): CloudWatch's own evaluation turns it OK when the
   * host's heartbeats come back, and that starts host-recovery, as after any alarm.
   */
  hostAlarmState?: boolean;
  /**
   * Tags managed nodes with their host name (registration): ssm:AddTagsToResource / RemoveTagsFromResource
   * on managed-instance/*, the tag key `lazarus:host` only.
   */
  tagHosts?: boolean;
  /**
   * Powers hosts off (the `power` fence: ec2:StopInstances on tagged hosts, DescribeInstances). A BMC fence
   * runs on a delegate host through the fence-through-delegate document instead; the delegate reads the BMC
   * password itself.
   */
  fence?: boolean;
  /** Powers EC2 hosts on again (ec2:StartInstances on tagged hosts): an operator's `host power on`. */
  powerOn?: boolean;
  /** Invokes these functions (ids) directly; their names reach it as `functionNameEnv(id)` variables. */
  invokeFunctions?: string[];
}

/** `LAZARUS_FUNCTION_<ID>`: the deployed name of function `id`, for a function that invokes it. */
export function functionNameEnv(id: string): string {
  return `LAZARUS_FUNCTION_${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export interface FunctionSpec {
  /** Function name suffix, e.g. conductor-accept (deployed as `<prefix>-conductor-accept`). */
  id: string;
  /** `${Placeholder}` in the ASL files, filled with the function's ARN. */
  placeholder: string;
  /** Module (relative to the project root) and export of the handler. */
  entry: string;
  handler: string;
  /** What the function is for: a step of a state machine, or something started by an event or a timer. */
  /**
   * step: a Task of a state machine; trigger: invoked by an EventBridge rule (`eventPattern`); scheduled:
   * by a timer (`schedule`); api: the one function behind API Gateway; invoked: called directly (Lambda
   * Invoke) by the API or an operator's tool.
   */
  role: "step" | "trigger" | "scheduled" | "api" | "invoked";
  access: FunctionAccess;
  /**
   * role "scheduled": how often it runs (an EventBridge rate expression, e.g. "rate(1 minute)"); one run at a
   * time (a lease, `shared/lambda/schedule-lease.ts`).
   */
  schedule?: string;
  /** role "trigger": the EventBridge rules whose events invoke it (shared/definitions/rules.ts). */
  triggers?: readonly TriggerRule[];
}

const capitalized = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}`;

/** A step function of a state machine; `folder` is the folder under functions/ holding `handlers.ts`. */
export function stepFunction(
  folder: string,
  idPrefix: string,
  name: string,
  handler: string,
  access: FunctionAccess,
): FunctionSpec {
  return {
    id: `${idPrefix}-${name}`,
    placeholder: `${capitalized(idPrefix)}${capitalized(handler)}FunctionArn`,
    entry: `functions/${folder}/handlers.ts`,
    handler,
    role: "step",
    access,
  };
}

const conductor = (name: string, handler: string, access: FunctionAccess) =>
  stepFunction("conductor", "conductor", name, handler, access);
const compute = (name: string, handler: string, access: FunctionAccess) =>
  stepFunction("compute-steps", "compute", name, handler, access);

/** Ending a flow in error touches every record the flow may have changed (claims, bindings, attachments). */
const ENDS_FLOW: FunctionAccess = {
  tables: {
    instances: "write",
    hosts: "write",
    migrations: "write",
    faults: "write",
    ports: "write",
    volumes: "write",
    outbox: "write",
  },
  publishEvents: true,
};
/** A compute step on the target host: reads the instance and the host, runs the given documents there. */
const onTarget = (...hostDocuments: string[]): FunctionAccess => ({
  tables: { instances: "read", hosts: "read" },
  hostDocuments,
});

export const REBUILD_FUNCTIONS: readonly FunctionSpec[] = [
  conductor("accept", "accept", {
    // recoveries: the proof of an instance-recovery relocation from a live host (relocateFromLiveHost).
    tables: { instances: "write", hosts: "read", migrations: "write", outbox: "write", recoveries: "read" },
    publishEvents: true,
  }),
  conductor("schedule", "schedule", {
    // Cleaning a target an earlier flow left unproven runs a host command (and strikes it from the instance).
    tables: { instances: "write", hosts: "write", migrations: "write" },
    hostDocuments: ["remove-domain"],
  }),
  conductor("prepare-reschedule", "prepareReschedule", {
    tables: { instances: "write", hosts: "write", migrations: "write", ports: "write", volumes: "write" },
  }),
  conductor("finish", "finish", {
    tables: { instances: "write", hosts: "write", migrations: "write", outbox: "write" },
    publishEvents: true,
  }),
  conductor("handle-failure", "handleFailure", ENDS_FLOW),
  // The target checks read no instance (the flow's own uuid and image), and the target host only when the
  // flow carries no copy of it from Schedule's claim (FlowState `target`).
  compute("verify-recreate", "verifyRecreate", { tables: { hosts: "read" } }),
  compute("check-instance-not-on-target", "checkInstanceNotOnTarget", {
    ...onTarget("probe-target"),
    tables: { hosts: "read" },
  }),
  compute("check-shared-storage", "checkSharedStorage", {
    ...onTarget("probe-target"),
    tables: { hosts: "read" },
  }),
  // Evacuate: UpdateInstanceState + RebindPorts + DetachVolumes + AttachVolumes + PrepareRootDisk as one
  // (their evacuate phases only: the records, then the root disk on the target).
  compute("prepare-target", "prepareTarget", {
    ...onTarget("create-root-disk"),
    tables: { instances: "write", hosts: "read", ports: "write", volumes: "write" },
  }),
  compute("update-instance-state", "updateInstanceState", {
    ...onTarget("probe-target", "probe-domain-state"),
    tables: { instances: "write", hosts: "read" },
  }),
  compute("rebind-ports", "rebindPorts", { tables: { instances: "read", ports: "write" } }),
  compute("power-off", "powerOff", onTarget("stop-domain")),
  compute("detach-volumes", "detachVolumes", {
    ...onTarget("read-domain-disks", "detach-volume"),
    tables: { instances: "read", hosts: "read", volumes: "write" },
  }),
  compute("destroy", "destroy", onTarget("remove-domain")),
  compute("attach-volumes", "attachVolumes", { tables: { instances: "write", volumes: "write" } }),
  compute("prepare-root-disk", "prepareRootDisk", onTarget("create-root-disk")),
  compute("spawn", "spawn", {
    ...onTarget("define-domain"),
    tables: { instances: "write", hosts: "read", ports: "read", volumes: "read" },
  }),
  compute("clean-up-target", "cleanUpTarget", onTarget("remove-domain")),
];

/**
 * Ending a migration that failed (shared/flow/migration-ending.ts): where the guest runs is asked on both
 * hosts, a leftover copy removed, the guest restarted or defined again at home, the target cleaned.
 */
const MIGRATION_ENDING = ["define-domain", "probe-domain-state", "remove-domain", "start-domain"];

const migrate = (name: string, handler: string, access: FunctionAccess) =>
  stepFunction("migration", "migrate", name, handler, access);

/** Moving a guest's records to where it runs: ports, volume attachments, the instance, claims, the migration. */
const MOVES_RECORDS: FunctionAccess = {
  tables: {
    instances: "write",
    hosts: "write",
    migrations: "write",
    ports: "write",
    volumes: "write",
    outbox: "write",
  },
  publishEvents: true,
};

/** The migrate machine (issue 32): live and cold migration of an instance on a live host, and the revert. */
export const MIGRATION_FUNCTIONS: readonly FunctionSpec[] = [
  migrate("accept", "acceptMigration", {
    tables: { instances: "write", hosts: "read", migrations: "write", outbox: "write" },
    publishEvents: true,
  }),
  migrate("schedule", "scheduleMigration", {
    tables: { instances: "read", hosts: "write", migrations: "write" },
  }),
  migrate("check-target", "checkMigrationTarget", onTarget("probe-target", "probe-domain-state")),
  migrate("live", "liveMigrate", {
    // probe-domain-state: where the guest runs after an attempt whose answer was lost.
    ...onTarget("live-migrate-domain", "probe-domain-state"),
    tables: { instances: "read", hosts: "read", migrations: "write" },
  }),
  migrate("stop-source", "stopSource", {
    ...onTarget("stop-undefine-domain"),
    tables: { instances: "write", hosts: "read", migrations: "write" },
  }),
  migrate("start-on-target", "startOnTarget", {
    ...onTarget("define-domain"),
    tables: { instances: "write", hosts: "read", ports: "read", volumes: "read" },
  }),
  migrate("commit", "commitMigration", MOVES_RECORDS),
  migrate("confirm", "confirmMigration", MOVES_RECORDS),
  migrate("revert", "revertMigration", {
    ...MOVES_RECORDS,
    hostDocuments: ["define-domain", "stop-undefine-domain"],
  }),
  // Asks both hosts where the guest is, cleans one, restarts it on the other, or commits where it runs.
  migrate("handle-failure", "handleMigrationFailure", { ...ENDS_FLOW, hostDocuments: MIGRATION_ENDING }),
];

const drain = (name: string, handler: string, access: FunctionAccess) =>
  stepFunction("host-maintenance", "drain", name, handler, access);

/** The host-drain machine (issue 32): planned maintenance of a live host, and the return of its instances. */
export const HOST_MAINTENANCE_FUNCTIONS: readonly FunctionSpec[] = [
  // Disables the host and marks it draining (hosts write).
  drain("start", "startDrain", { tables: { hosts: "write" } }),
  drain("plan", "planDrain", { tables: { hosts: "read", instances: "read" } }),
  drain("confirm-move", "confirmMove", { tables: { instances: "read" } }),
  // Marks the host maintenance (or incomplete) with the instances it moved.
  drain("report", "reportDrain", { tables: { hosts: "write", instances: "read" } }),
  drain("abort", "abortDrain", { tables: { hosts: "write" } }),
];

/**
 * The boot flow (state-machines/boot.asl.json): nova's build through the same scheduler (claims) and spawn
 * as the rebuild flow, and its failure path that leaves nothing behind.
 */
export const BOOT_FUNCTIONS: readonly FunctionSpec[] = [
  // Records the create action (with the build) when the API has not.
  conductor("accept-boot", "acceptBoot", {
    tables: { instances: "read", actions: "write", outbox: "write" },
    publishEvents: true,
  }),
  // Claims a host, creates the instance record there, marks the build placed.
  conductor("schedule-boot", "scheduleBoot", {
    tables: { instances: "write", hosts: "write", actions: "write" },
  }),
  // Makes blank volumes (files on the host) and ports; attaches and binds them.
  compute("prepare-boot", "prepareBoot", {
    ...onTarget("create-volume"),
    tables: { instances: "write", hosts: "read", ports: "write", volumes: "write" },
  }),
  compute("boot-root-disk", "bootRootDisk", onTarget("create-root-disk")),
  compute("spawn-boot", "spawnBoot", {
    ...onTarget("define-domain"),
    tables: { instances: "write", hosts: "read", ports: "read", volumes: "read" },
  }),
  conductor("finish-boot", "finishBoot", {
    tables: { instances: "write", outbox: "write" },
    publishEvents: true,
  }),
  // Reads the instance: a boot whose FinishBoot committed is never cleaned.
  compute("clean-up-boot", "cleanUpBoot", {
    tables: { instances: "read", hosts: "read" },
    hostDocuments: ["remove-domain", "delete-volume"],
  }),
  conductor("handle-boot-failure", "handleBootFailure", {
    ...ENDS_FLOW,
    tables: { ...ENDS_FLOW.tables, actions: "write" },
  }),
];

/** The delete flow (state-machines/delete.asl.json): the domain and its disks off the host, then the records. */
export const DELETE_FUNCTIONS: readonly FunctionSpec[] = [
  conductor("accept-delete", "acceptDelete", {
    tables: { instances: "write", hosts: "read", actions: "write", outbox: "write" },
    publishEvents: true,
  }),
  compute("destroy-instance", "destroyInstance", {
    ...onTarget("remove-domain", "delete-volume"),
    tables: { instances: "read", hosts: "read", volumes: "read" },
  }),
  conductor("finish-delete", "finishDelete", {
    tables: {
      instances: "write",
      hosts: "write",
      ports: "write",
      volumes: "write",
      actions: "write",
      outbox: "write",
    },
    publishEvents: true,
  }),
  conductor("handle-delete-failure", "handleDeleteFailure", {
    tables: { instances: "write", faults: "write", actions: "write", outbox: "write" },
    publishEvents: true,
  }),
];

const inventory = (
  name: string,
  handler: string,
  role: "invoked" | "scheduled",
  access: FunctionAccess,
  schedule?: string,
): FunctionSpec => ({
  id: `inventory-${name}`,
  placeholder: `Inventory${capitalized(handler)}FunctionArn`,
  entry: "functions/inventory/handlers.ts",
  handler,
  role,
  access,
  ...(schedule ? { schedule } : {}),
});

/** Host registration, adoption of existing domains (API), and the periodic fleet sync. */
export const INVENTORY_FUNCTIONS: readonly FunctionSpec[] = [
  // Reads the host's tag and agent state (describeHosts) and its capacity and settings (host documents);
  // creates its alarms (hostAlarms) and tags the node with its name (tagHosts).
  inventory("register-host", "register", "invoked", {
    // fleet: the host count and the host's BMC networks, kept with its record.
    tables: { hosts: "write", fleet: "write" },
    hostDocuments: ["read-host-facts", "check-storage"],
    describeHosts: true,
    hostAlarms: true,
    tagHosts: true,
  }),
  // Deletes the host's alarms, its name tag and its record (refused while instances name it).
  inventory("deregister-host", "deregister", "invoked", {
    tables: { hosts: "remove", instances: "read", fleet: "write" },
    hostAlarms: true,
    tagHosts: true,
  }),
  // Writes records and a claim per adopted domain; on the host it reads, and turns autostart off only.
  inventory("adopt-host", "adopt", "invoked", {
    tables: { hosts: "write", instances: "write", ports: "write", volumes: "write" },
    hostDocuments: ["list-domains", "read-domain", "read-disk-chains", "disable-autostart"],
  }),
  // nova's _sync_power_states period is 10 minutes; 5 here, as the resource audit runs more often.
  inventory(
    "sync",
    "sync",
    "scheduled",
    // fleet: where the last run stopped (a run syncs the next page of hosts).
    {
      tables: { hosts: "write", instances: "write", migrations: "read", leases: "write", fleet: "write" },
      hostDocuments: ["list-domain-states"],
    },
    "rate(5 minutes)",
  ),
];

/** The API behind API Gateway (functions/api): nova's routes, the flows started and read through SFN. */
export const API_FUNCTIONS: readonly FunctionSpec[] = [
  {
    id: "api",
    placeholder: "ApiFunctionArn",
    entry: "functions/api/handlers.ts",
    handler: "api",
    role: "api",
    access: {
      // hosts: enable/disable, force-down (an operator's proof of death), undrain; idempotency: the answers
      // to mutating requests.
      // instances write + host documents + publishEvents: os-stop/os-start/reboot, lock, resetState and the
      // console log; recoveries: restarts in the action log.
      // migrations write: confirmResize (the source's reserved claim released, the migration confirmed).
      tables: {
        instances: "write",
        hosts: "write",
        migrations: "write",
        idempotency: "write",
        outbox: "write",
        recoveries: "read",
        // The instance action log (admin password notes, lifecycle actions) and builds not yet placed.
        actions: "write",
        // POST /servers checks the ports and volumes it is given; os-resetState records its fault.
        ports: "read",
        volumes: "read",
        faults: "write",
        // The delegates a host's power view lists.
        fleet: "read",
      },
      // remove-domain: an instance's unclean target cleaned on the operator's ask (lazarus:cleanTarget).
      hostDocuments: [
        "read-console-log",
        "read-uptime",
        "reboot-domain",
        "remove-domain",
        "start-domain",
        "stop-domain",
      ],
      publishEvents: true,
      startExecutions: ["rebuild", "host-evacuation", "boot", "delete", "migrate", "host-drain"],
      readExecutions: "history",
      // Registration, adoption and sync run in their own functions (tag and capacity reads, adoption writes);
      // an operator's power action runs in host-power (asynchronously: a BMC may take longer than 29 s).
      invokeFunctions: [
        "inventory-register-host",
        "inventory-deregister-host",
        "inventory-adopt-host",
        "inventory-sync",
        "host-power",
      ],
    },
  },
];

const hostFailure = (name: string, handler: string, access: FunctionAccess) =>
  stepFunction("host-failure", "hostfail", name, handler, access);

/** The host-failure flows: the alarm and peer triggers, and the steps of host-evacuation and host-recovery. */
export const HOST_FAILURE_FUNCTIONS: readonly FunctionSpec[] = [
  {
    id: "hostfail-on-alarm",
    placeholder: "HostfailOnAlarmStateChangeFunctionArn",
    entry: "functions/host-failure/handlers.ts",
    handler: "onAlarmStateChange",
    role: "trigger",
    access: { tables: { hosts: "write" }, startExecutions: ["host-evacuation", "host-recovery"] },
    triggers: [
      {
        id: "heartbeat-alarm",
        description: "A Lazarus host stopped beating: start its host-failure handling",
        bus: "default",
        eventPattern: (prefix) => heartbeatAlarmPattern(prefix, "ALARM"),
      },
      {
        id: "heartbeat-ok",
        description: "A Lazarus host beats again after an alarm: start its recovery",
        bus: "default",
        eventPattern: (prefix) => heartbeatAlarmPattern(prefix, "OK"),
      },
    ],
  },
  {
    id: "hostfail-on-peer-silent",
    placeholder: "HostfailOnPeerSilentFunctionArn",
    entry: "functions/host-failure/handlers.ts",
    handler: "onPeerSilent",
    role: "trigger",
    access: { tables: { hosts: "write" }, startExecutions: ["host-evacuation"] },
    triggers: [
      {
        // The hosts' agents put their reports on the account's default bus.
        id: "host-peer-silent",
        description: "A Lazarus host's peers stopped hearing it: start its host-failure handling",
        bus: "default",
        eventPattern: () => ({
          source: [PEER_SILENT_EVENT.source],
          "detail-type": [PEER_SILENT_EVENT.detailType],
        }),
      },
    ],
  },
  hostFailure("open-incident", "openIncident", { tables: { hosts: "write" } }),
  hostFailure("close-not-dead", "closeNotDead", { tables: { hosts: "write" } }),
  // Pages the operator (an evacuation that stopped on an error).
  hostFailure("abort-incident", "abortIncident", { tables: { hosts: "write" }, publishEvents: true }),
  // The host's heartbeat and, at an alarm, the fleet's: with the fleet's host count and the hosts that look
  // dead (an index), whether the mass-failure settle can change the guard's verdict.
  hostFailure("assess-heartbeat", "assessHeartbeat", {
    tables: { hosts: "read", fleet: "read" },
    heartbeats: "read",
  }),
  // The liveness probe is sent when the incident opens (send-probe) and read when the flow judges (probe-host).
  hostFailure("send-probe", "sendProbe", { tables: { hosts: "read" }, hostDocuments: ["probe-liveness"] }),
  hostFailure("probe-host", "probeHost", { tables: { hosts: "read" }, hostDocuments: ["probe-liveness"] }),
  // Records the watch of a silent host that answers SSM on its incident; pages the operator once.
  hostFailure("watch-silent-host", "watchSilentHost", { tables: { hosts: "write" }, publishEvents: true }),
  // The mass-failure guard reads the fleet's host count and the hosts that look dead (an index); holding
  // writes the incident and alerts the operator.
  hostFailure("check-mass-failure", "checkMassFailure", { tables: { hosts: "read", fleet: "read" } }),
  hostFailure("hold-incident", "holdIncident", { tables: { hosts: "write" }, publishEvents: true }),
  // Disables the proven-dead host; a peer's incident also sets the host's alarm to ALARM (its return runs recovery).
  hostFailure("disable-host", "disableHost", { tables: { hosts: "write" }, hostAlarmState: true }),
  // The power fence: a BMC's fence agent on a delegate host (fence-through-delegate), or ec2:StopInstances
  // (Force) and DescribeInstances on the host's instance; records it in the host's power log; reads the
  // heartbeats for the lease; records the proof of death on the host.
  hostFailure("fence", "fenceHost", {
    // fleet: the peers on the victim's BMC network (the delegates).
    tables: { hosts: "write", fleet: "read" },
    fence: true,
    hostDocuments: ["fence-through-delegate"],
    heartbeats: "read",
  }),
  hostFailure("await-proof", "awaitProof", { tables: { hosts: "read" }, heartbeats: "read" }),
  // Ends the migrate flows moving instances off the dead host (issue 32): asks their targets where each
  // guest runs, commits there or releases the task (the migrate machine's own failure ending).
  // Reads executions' status: a migrate flow whose own handler holds the ending is left to it while that
  // execution runs (shared/flow/task-ending.ts).
  hostFailure("end-migrations", "endMigrationsFromHost", {
    ...ENDS_FLOW,
    hostDocuments: MIGRATION_ENDING,
    readExecutions: "status",
  }),
  // Marks instances left without proof "fencing required" (fault, fencingRequired), and pages about them.
  hostFailure("plan-evacuation", "planEvacuation", {
    tables: { instances: "write", faults: "write", hosts: "read" },
    publishEvents: true,
  }),
  hostFailure("confirm-evacuation", "confirmEvacuation", { tables: { instances: "read" } }),
  // Re-reads every instance still on the host: the report names each one left there; pages the operator
  // when the evacuation is incomplete.
  hostFailure("report-evacuation", "reportEvacuation", {
    tables: { hosts: "write", instances: "read" },
    publishEvents: true,
  }),
  hostFailure("check-recovery", "checkRecovery", { tables: { hosts: "read" } }),
  hostFailure("clean-stale-domains", "cleanStaleDomains", {
    tables: { hosts: "read", instances: "read" },
    hostDocuments: ["list-domains", "remove-stale-domains"],
  }),
  // Also clears "fencing required" marks of instances whose host came back before proof.
  hostFailure("release-host-records", "releaseHostRecords", {
    tables: { hosts: "write", instances: "write", migrations: "write" },
  }),
  hostFailure("finish-recovery", "finishRecovery", { tables: { hosts: "write" } }),
];

const instanceFailure = (name: string, handler: string, access: FunctionAccess) =>
  stepFunction("instance-failure", "instfail", name, handler, access);

/** The instance-failure flow: the host report's trigger and the steps of instance-recovery. */
export const INSTANCE_FAILURE_FUNCTIONS: readonly FunctionSpec[] = [
  {
    id: "instfail-on-domain-stopped",
    placeholder: "InstfailOnDomainStoppedFunctionArn",
    entry: "functions/instance-failure/handlers.ts",
    handler: "onDomainStopped",
    role: "trigger",
    access: { startExecutions: ["instance-recovery"] },
    triggers: [
      {
        // The hosts' instance monitors put their reports on the account's default bus.
        id: "domain-stopped",
        description: "A host reports a guest that stopped by itself: start its instance recovery",
        bus: "default",
        eventPattern: () => ({
          source: [DOMAIN_STOPPED_EVENT.source],
          "detail-type": [DOMAIN_STOPPED_EVENT.detailType],
        }),
      },
    ],
  },
  // The storm guard starts host-evacuation; a reset host's restart in place records the reset on the host.
  instanceFailure("open-recovery", "openRecovery", {
    tables: { instances: "read", hosts: "write", recoveries: "write" },
    startExecutions: ["host-evacuation"],
  }),
  instanceFailure("probe-domain", "probeDomain", {
    tables: { hosts: "read", recoveries: "write" },
    hostDocuments: ["probe-domain-state"],
  }),
  instanceFailure("decide", "decide", { tables: { instances: "read", hosts: "read", recoveries: "read" } }),
  instanceFailure("restart", "restart", {
    tables: { instances: "write", hosts: "read", recoveries: "write", outbox: "write" },
    hostDocuments: ["start-domain", "probe-domain-state"],
    publishEvents: true,
  }),
  instanceFailure("prepare-relocation", "prepareRelocation", {
    tables: { instances: "read", hosts: "read", recoveries: "write" },
    hostDocuments: ["remove-domain", "probe-domain-state"],
  }),
  // Releases the live source's claim and completes the migration once the instance moved.
  instanceFailure("confirm-relocation", "confirmRelocation", {
    tables: { instances: "read", hosts: "write", migrations: "write", recoveries: "write" },
  }),
  // Pages the operator: the instance is in ERROR.
  instanceFailure("give-up", "giveUp", {
    tables: { instances: "write", faults: "write", recoveries: "write" },
    publishEvents: true,
  }),
  instanceFailure("abort-recovery", "abortRecovery", {
    tables: { instances: "write", faults: "write", recoveries: "write" },
  }),
];

/**
 * nova's `_init_instance` on a timer: ends tasks whose flow's execution ended without finishing, and
 * publishes notifications that could not be published when they were made.
 */
export const SWEEPER_FUNCTION: FunctionSpec = {
  id: "sweeper",
  placeholder: "SweeperFunctionArn",
  entry: "functions/sweeper/handlers.ts",
  handler: "sweep",
  role: "scheduled",
  schedule: "rate(1 minute)",
  // actions: a boot or delete the sweeper ends is recorded in its action (and a boot's build read there).
  access: {
    ...ENDS_FLOW,
    tables: { ...ENDS_FLOW.tables, leases: "write", actions: "write" },
    // probe-domain-state: an abandoned power task's domain; remove-domain, delete-volume: a failed boot's
    // host; define-domain, start-domain: a migration whose execution ended without its failure path.
    hostDocuments: ["define-domain", "delete-volume", "probe-domain-state", "remove-domain", "start-domain"],
    readExecutions: "status",
  },
};

/**
 * An operator's power action on a host (status, off, on, cycle, fence test), invoked by the API: a BMC's
 * fence agent on a delegate host, or the EC2 API; recorded in the host's power log.
 */
export const HOST_POWER_FUNCTION: FunctionSpec = {
  id: "host-power",
  placeholder: "HostPowerFunctionArn",
  entry: "functions/host-power/handlers.ts",
  handler: "power",
  role: "invoked",
  access: {
    // fleet: the peers on the host's BMC network (the delegates).
    tables: { hosts: "write", fleet: "read" },
    hostDocuments: ["fence-through-delegate"],
    fence: true,
    powerOn: true,
  },
};

/** Every function, of every flow and trigger. New flows append their lists here. */
export const ALL_FUNCTIONS: readonly FunctionSpec[] = [
  ...REBUILD_FUNCTIONS,
  ...MIGRATION_FUNCTIONS,
  ...HOST_MAINTENANCE_FUNCTIONS,
  ...BOOT_FUNCTIONS,
  ...DELETE_FUNCTIONS,
  SWEEPER_FUNCTION,
  ...INVENTORY_FUNCTIONS,
  ...API_FUNCTIONS,
  HOST_POWER_FUNCTION,
  ...HOST_FAILURE_FUNCTIONS,
  ...INSTANCE_FAILURE_FUNCTIONS,
];

export function lambdaArn(functionName: string, region = "us-east-1", account = "000000000000"): string {
  return `arn:aws:lambda:${region}:${account}:function:${functionName}`;
}
