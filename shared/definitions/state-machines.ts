/**
 * Every state machine of Lazarus as data: its ASL file in `state-machines/`, its name, and the
 * placeholder other machines use for its ARN (a parent starts a child with `startExecution.sync:2`).
 * The CDK stack and the local cloud both read this list and fill the same placeholders
 * (`definitionSubstitutions`), so a definition is never written twice.
 */
import { readFileSync } from "node:fs";
import { ALL_FUNCTIONS, lambdaArn } from "./functions.js";

export interface StateMachineSpec {
  /** Name suffix: deployed as `<prefix>-<id>`. */
  id: string;
  /** The ASL file, relative to the project root. */
  file: string;
  /** `${Placeholder}` for this machine's ARN in other machines' definitions. */
  placeholder: string;
  /** Environment variable through which callers (API, triggers) learn the ARN. */
  arnEnv: string;
}

export const STATE_MACHINES: readonly StateMachineSpec[] = [
  {
    id: "rebuild",
    file: "state-machines/rebuild.asl.json",
    placeholder: "RebuildStateMachineArn",
    arnEnv: "LAZARUS_REBUILD_STATE_MACHINE_ARN",
  },
  {
    // Input {requestId, build}: POST /servers starts it (nova's build: schedule, volumes, ports, root disk, spawn).
    id: "boot",
    file: "state-machines/boot.asl.json",
    placeholder: "BootStateMachineArn",
    arnEnv: "LAZARUS_BOOT_STATE_MACHINE_ARN",
  },
  {
    // Input {requestId, instanceUuid}: DELETE /servers/{id} starts it.
    id: "delete",
    file: "state-machines/delete.asl.json",
    placeholder: "DeleteStateMachineArn",
    arnEnv: "LAZARUS_DELETE_STATE_MACHINE_ARN",
  },
  {
    // Input {host, incidentId?, reason?}: the alarm trigger and POST /os-hosts/{host}/evacuate start it.
    id: "host-evacuation",
    file: "state-machines/host-evacuation.asl.json",
    placeholder: "HostEvacuationStateMachineArn",
    arnEnv: "LAZARUS_HOST_EVACUATION_STATE_MACHINE_ARN",
  },
  {
    // Input {host, reason?}: the alarm trigger starts it when a host's heartbeat alarm goes ALARM -> OK.
    id: "host-recovery",
    file: "state-machines/host-recovery.asl.json",
    placeholder: "HostRecoveryStateMachineArn",
    arnEnv: "LAZARUS_HOST_RECOVERY_STATE_MACHINE_ARN",
  },
  {
    // Input {recoveryId, report}: the trigger of a host's "Lazarus Domain Stopped" report starts it.
    id: "instance-recovery",
    file: "state-machines/instance-recovery.asl.json",
    placeholder: "InstanceRecoveryStateMachineArn",
    arnEnv: "LAZARUS_INSTANCE_RECOVERY_STATE_MACHINE_ARN",
  },
  {
    // Input MigrateRequest (shared/flow/migration-contract.ts): the API's os-migrateLive, migrate and
    // revertResize, and host-drain's children.
    id: "migrate",
    file: "state-machines/migrate.asl.json",
    placeholder: "MigrateStateMachineArn",
    arnEnv: "LAZARUS_MIGRATE_STATE_MACHINE_ARN",
  },
  {
    // Input {host, mode: drain|return, reason?, instances?}: POST /os-hosts/{host}/drain and undrain's return.
    id: "host-drain",
    file: "state-machines/host-drain.asl.json",
    placeholder: "HostDrainStateMachineArn",
    arnEnv: "LAZARUS_HOST_DRAIN_STATE_MACHINE_ARN",
  },
];

/** The project root (this file is shared/definitions/state-machines.ts, also when bundled it is not read). */
export const PROJECT_ROOT = new URL("../../", import.meta.url);

export function readDefinition(spec: StateMachineSpec): string {
  return readFileSync(new URL(spec.file, PROJECT_ROOT), "utf8");
}

export function stateMachineArn(name: string, region = "us-east-1", account = "000000000000"): string {
  return `arn:aws:states:${region}:${account}:stateMachine:${name}`;
}

export function stateMachineSpec(id: string): StateMachineSpec {
  const spec = STATE_MACHINES.find((m) => m.id === id);
  if (!spec) throw new Error(`no state machine ${id}`);
  return spec;
}

/**
 * Placeholder -> ARN for every function and every state machine, with names `<prefix>-<id>`.
 * The local cloud passes its own ARN builders; the CDK stack passes tokens of the deployed resources.
 */
export function definitionSubstitutions(
  prefix: string,
  arns: { lambda?: (name: string) => string; stateMachine?: (name: string) => string } = {},
): Record<string, string> {
  const fn = arns.lambda ?? ((n: string) => lambdaArn(n));
  const sm = arns.stateMachine ?? ((n: string) => stateMachineArn(n));
  return {
    ...Object.fromEntries(ALL_FUNCTIONS.map((f) => [f.placeholder, fn(deployedName(prefix, f.id))])),
    ...Object.fromEntries(STATE_MACHINES.map((m) => [m.placeholder, sm(deployedName(prefix, m.id))])),
  };
}

/** The deployed name of a function or state machine: `<prefix>-<id>`. */
export function deployedName(prefix: string, id: string): string {
  return `${prefix}-${id}`;
}

/** Every `${Name}` placeholder a definition uses. */
export function placeholdersOf(definition: string): string[] {
  return [...new Set([...definition.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]!))];
}
