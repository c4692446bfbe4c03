/**
 * Every step of the instance-failure flow by its handler name (the `handler` of INSTANCE_FAILURE_FUNCTIONS in
 * shared/definitions/functions.ts, which instance-recovery.asl.json names through its `${...FunctionArn}`
 * placeholders), with the schema its input is parsed with. The Lambda handlers are built from this table, and
 * so is the policy simulator (test/unit/ha-simulator), which runs these same steps in the order the ASL defines.
 */
import { DomainStoppedEvent } from "#shared/domain/instance-failure.js";
import { tableStep } from "#shared/lambda/handler.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";
import { InstanceRecoveryState, OpenRecoveryInput } from "../contract.js";
import * as open from "./open.js";
import * as recover from "./recover.js";
import * as trigger from "./trigger.js";

const step = tableStep<InstanceFailureDeps>();

export const INSTANCE_FAILURE_STEPS = {
  onDomainStopped: step(DomainStoppedEvent, trigger.onDomainStopped),
  openRecovery: step(OpenRecoveryInput, open.openRecovery),
  probeDomain: step(InstanceRecoveryState, recover.probeDomain),
  decide: step(InstanceRecoveryState, recover.decide),
  restart: step(InstanceRecoveryState, recover.restart),
  prepareRelocation: step(InstanceRecoveryState, recover.prepareRelocation),
  confirmRelocation: step(InstanceRecoveryState, recover.confirmRelocation),
  giveUp: step(InstanceRecoveryState, recover.giveUp),
  abortRecovery: step(InstanceRecoveryState, recover.abortRecovery),
} as const;
export type InstanceFailureStepName = keyof typeof INSTANCE_FAILURE_STEPS;
