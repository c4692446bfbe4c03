/**
 * Every Lambda function of Lazarus as data: its id, the module and export of its handler, and the
 * `${Placeholder}` that the ASL files use for its ARN. The CDK stack and the local cloud both read this
 * list; neither defines a function the other does not know. Add a function here and both pick it up.
 */

export interface FunctionSpec {
  /** Function name suffix, e.g. conductor-accept (deployed as `<prefix>-conductor-accept`). */
  id: string;
  /** `${Placeholder}` in the ASL files, filled with the function's ARN. */
  placeholder: string;
  /** Module (relative to the project root) and export of the handler. */
  entry: string;
  handler: string;
  /** What the function is for: a step of a state machine, or something started by an event or a timer. */
  role: "step" | "trigger" | "scheduled" | "api";
}

const capitalized = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}`;

/** A step function of a state machine; `folder` is the folder under functions/ holding `handlers.ts`. */
export function stepFunction(folder: string, idPrefix: string, name: string, handler: string): FunctionSpec {
  return {
    id: `${idPrefix}-${name}`,
    placeholder: `${capitalized(idPrefix)}${capitalized(handler)}FunctionArn`,
    entry: `functions/${folder}/handlers.ts`,
    handler,
    role: "step",
  };
}

const conductor = (name: string, handler: string) => stepFunction("conductor", "conductor", name, handler);
const compute = (name: string, handler: string) => stepFunction("compute-steps", "compute", name, handler);

export const REBUILD_FUNCTIONS: readonly FunctionSpec[] = [
  conductor("accept", "accept"),
  conductor("schedule", "schedule"),
  conductor("handle-no-valid-host", "handleNoValidHost"),
  conductor("prepare-reschedule", "prepareReschedule"),
  conductor("finish", "finish"),
  conductor("handle-failure", "handleFailure"),
  compute("verify-recreate", "verifyRecreate"),
  compute("check-instance-not-on-target", "checkInstanceNotOnTarget"),
  compute("check-shared-storage", "checkSharedStorage"),
  compute("update-instance-state", "updateInstanceState"),
  compute("rebind-ports", "rebindPorts"),
  compute("power-off", "powerOff"),
  compute("detach-volumes", "detachVolumes"),
  compute("destroy", "destroy"),
  compute("attach-volumes", "attachVolumes"),
  compute("prepare-root-disk", "prepareRootDisk"),
  compute("spawn", "spawn"),
  compute("clean-up-target", "cleanUpTarget"),
];

/** Every function, of every flow and trigger. New flows append their lists here. */
export const ALL_FUNCTIONS: readonly FunctionSpec[] = [...REBUILD_FUNCTIONS];

export function lambdaArn(functionName: string, region = "us-east-1", account = "000000000000"): string {
  return `arn:aws:lambda:${region}:${account}:function:${functionName}`;
}
