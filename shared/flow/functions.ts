/**
 * The flow's Lambda functions as data: which handler, which ASL placeholder. The CDK stack and the local
 * runner both read this list; neither defines a function the other does not know.
 */

export interface FunctionSpec {
  /** Function name suffix, e.g. conductor-accept (deployed as `<prefix>-conductor-accept`). */
  id: string;
  /** `${Placeholder}` in the ASL files, filled with the function's ARN. */
  placeholder: string;
  /** Module (relative to the project root) and export of the handler. */
  entry: string;
  handler: string;
}

const capitalized = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}`;

/** `kind` is the folder prefix: conductor -> functions/conductor, compute -> functions/compute-steps. */
function flowFunction(kind: "conductor" | "compute", name: string, handler: string): FunctionSpec {
  return {
    id: `${kind}-${name}`,
    placeholder: `${capitalized(kind)}${capitalized(handler)}FunctionArn`,
    entry: kind === "conductor" ? "functions/conductor/handlers.ts" : "functions/compute-steps/handlers.ts",
    handler,
  };
}

const conductor = (name: string, handler: string) => flowFunction("conductor", name, handler);
const compute = (name: string, handler: string) => flowFunction("compute", name, handler);

export const FLOW_FUNCTIONS: readonly FunctionSpec[] = [
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

export function lambdaArn(functionName: string, region = "us-east-1", account = "000000000000"): string {
  return `arn:aws:lambda:${region}:${account}:function:${functionName}`;
}

/** Placeholder -> ARN for every flow function, with function names `<prefix>-<id>`. */
export function functionSubstitutions(
  prefix: string,
  arnOf: (name: string) => string = (n) => lambdaArn(n),
): Record<string, string> {
  return Object.fromEntries(FLOW_FUNCTIONS.map((f) => [f.placeholder, arnOf(`${prefix}-${f.id}`)]));
}
