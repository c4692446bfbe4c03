/** The instance-failure flow's Lambda handlers: the host report's trigger, and one per machine step. */
import { DomainStoppedEvent } from "#shared/domain/instance-failure.js";
import { handlerWith } from "#shared/lambda/handler.js";
import { instanceFailureDepsFromEnv } from "#shared/lambda/instance-failure-runtime.js";
import { InstanceRecoveryState, OpenRecoveryInput } from "./contract.js";
import * as open from "./steps/open.js";
import * as recover from "./steps/recover.js";
import * as trigger from "./steps/trigger.js";

const deps = instanceFailureDepsFromEnv;

export const onDomainStopped = handlerWith(deps, DomainStoppedEvent, trigger.onDomainStopped);
export const openRecovery = handlerWith(deps, OpenRecoveryInput, open.openRecovery);
export const probeDomain = handlerWith(deps, InstanceRecoveryState, recover.probeDomain);
export const decide = handlerWith(deps, InstanceRecoveryState, recover.decide);
export const restart = handlerWith(deps, InstanceRecoveryState, recover.restart);
export const prepareRelocation = handlerWith(deps, InstanceRecoveryState, recover.prepareRelocation);
export const confirmRelocation = handlerWith(deps, InstanceRecoveryState, recover.confirmRelocation);
export const giveUp = handlerWith(deps, InstanceRecoveryState, recover.giveUp);
export const abortRecovery = handlerWith(deps, InstanceRecoveryState, recover.abortRecovery);
