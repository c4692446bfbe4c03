/**
 * The instance-failure flow's Lambda handlers: the host report's trigger, and one per machine step, from the
 * step table (steps/index.ts) with the dependencies from the environment.
 */
import { handlerWith } from "#shared/lambda/handler.js";
import { instanceFailureDepsFromEnv } from "#shared/lambda/instance-failure-runtime.js";
import { INSTANCE_FAILURE_STEPS as S } from "./steps/index.js";

const deps = instanceFailureDepsFromEnv;

export const onDomainStopped = handlerWith(deps, S.onDomainStopped.input, S.onDomainStopped.run);
export const openRecovery = handlerWith(deps, S.openRecovery.input, S.openRecovery.run);
export const probeDomain = handlerWith(deps, S.probeDomain.input, S.probeDomain.run);
export const decide = handlerWith(deps, S.decide.input, S.decide.run);
export const restart = handlerWith(deps, S.restart.input, S.restart.run);
export const prepareRelocation = handlerWith(deps, S.prepareRelocation.input, S.prepareRelocation.run);
export const confirmRelocation = handlerWith(deps, S.confirmRelocation.input, S.confirmRelocation.run);
export const giveUp = handlerWith(deps, S.giveUp.input, S.giveUp.run);
export const abortRecovery = handlerWith(deps, S.abortRecovery.input, S.abortRecovery.run);
