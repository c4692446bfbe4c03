/**
 * The host-failure flows' Lambda handlers: the alarm and peer triggers, and one step each for the two machines, from
 * the step table (steps/index.ts) with the dependencies from the environment.
 */
import { handlerWith } from "#shared/lambda/handler.js";
import { hostFailureDepsFromEnv } from "#shared/lambda/host-failure-runtime.js";
import { HOST_FAILURE_STEPS as S } from "./steps/index.js";
import { alarmHost } from "./steps/trigger.js";

const deps = hostFailureDepsFromEnv;

export const onAlarmStateChange = handlerWith(deps, S.onAlarmStateChange.input, S.onAlarmStateChange.run, {
  correlationKeys: (event) => ({
    host: alarmHost(event) ?? undefined,
    alarm: event.detail.alarmName,
  }),
});

export const onPeerSilent = handlerWith(deps, S.onPeerSilent.input, S.onPeerSilent.run, {
  correlationKeys: (event) => ({ host: event.detail.host, observer: event.detail.observer }),
});

export const openIncident = handlerWith(deps, S.openIncident.input, S.openIncident.run);
export const closeNotDead = handlerWith(deps, S.closeNotDead.input, S.closeNotDead.run);
export const abortIncident = handlerWith(deps, S.abortIncident.input, S.abortIncident.run);
export const assessHeartbeat = handlerWith(deps, S.assessHeartbeat.input, S.assessHeartbeat.run);
export const sendProbe = handlerWith(deps, S.sendProbe.input, S.sendProbe.run);
export const probeHost = handlerWith(deps, S.probeHost.input, S.probeHost.run);
export const watchSilentHost = handlerWith(deps, S.watchSilentHost.input, S.watchSilentHost.run);
export const checkMassFailure = handlerWith(deps, S.checkMassFailure.input, S.checkMassFailure.run);
export const holdIncident = handlerWith(deps, S.holdIncident.input, S.holdIncident.run);
export const disableHost = handlerWith(deps, S.disableHost.input, S.disableHost.run);
export const fenceHost = handlerWith(deps, S.fenceHost.input, S.fenceHost.run);
export const awaitProof = handlerWith(deps, S.awaitProof.input, S.awaitProof.run);
export const endMigrationsFromHost = handlerWith(
  deps,
  S.endMigrationsFromHost.input,
  S.endMigrationsFromHost.run,
);
export const planEvacuation = handlerWith(deps, S.planEvacuation.input, S.planEvacuation.run);
export const confirmEvacuation = handlerWith(deps, S.confirmEvacuation.input, S.confirmEvacuation.run);
export const reportEvacuation = handlerWith(deps, S.reportEvacuation.input, S.reportEvacuation.run);

export const checkRecovery = handlerWith(deps, S.checkRecovery.input, S.checkRecovery.run);
export const cleanStaleDomains = handlerWith(deps, S.cleanStaleDomains.input, S.cleanStaleDomains.run);
export const releaseHostRecords = handlerWith(deps, S.releaseHostRecords.input, S.releaseHostRecords.run);
export const finishRecovery = handlerWith(deps, S.finishRecovery.input, S.finishRecovery.run);
