/** The host-failure flows' Lambda handlers: the alarm trigger, and one step each for the two machines. */
import { AlarmStateChangeEvent } from "#shared/domain/host-failure.js";
import { handlerWith } from "#shared/lambda/handler.js";
import { hostFailureDepsFromEnv } from "#shared/lambda/host-failure-runtime.js";
import { ConfirmInput, HostEvacuationState, HostRecoveryState, OpenIncidentInput } from "./contract.js";
import * as detect from "./steps/detect.js";
import * as evacuate from "./steps/evacuate.js";
import * as fence from "./steps/fence.js";
import * as guard from "./steps/guard.js";
import * as incident from "./steps/incident.js";
import * as migrations from "./steps/migrations.js";
import * as recover from "./steps/recover.js";
import * as trigger from "./steps/trigger.js";

const deps = hostFailureDepsFromEnv;

export const onAlarmStateChange = handlerWith(deps, AlarmStateChangeEvent, trigger.onAlarmStateChange, {
  correlationKeys: (event) => ({
    host: trigger.alarmHost(event) ?? undefined,
    alarm: event.detail.alarmName,
  }),
});

export const openIncident = handlerWith(deps, OpenIncidentInput, incident.openIncident);
export const closeNotDead = handlerWith(deps, HostEvacuationState, incident.closeNotDead);
export const abortIncident = handlerWith(deps, HostEvacuationState, incident.abortIncident);
export const assessHeartbeat = handlerWith(deps, HostEvacuationState, detect.assessHeartbeat);
export const probeHost = handlerWith(deps, HostEvacuationState, detect.probeHost);
export const checkMassFailure = handlerWith(deps, HostEvacuationState, guard.checkMassFailure);
export const holdIncident = handlerWith(deps, HostEvacuationState, guard.holdIncident);
export const disableHost = handlerWith(deps, HostEvacuationState, evacuate.disableHost);
export const fenceHost = handlerWith(deps, HostEvacuationState, fence.fenceHost);
export const awaitProof = handlerWith(deps, HostEvacuationState, fence.awaitProof);
export const endMigrationsFromHost = handlerWith(deps, HostEvacuationState, migrations.endMigrationsFromHost);
export const planEvacuation = handlerWith(deps, HostEvacuationState, evacuate.planEvacuation);
export const confirmEvacuation = handlerWith(deps, ConfirmInput, evacuate.confirmEvacuation);
export const reportEvacuation = handlerWith(deps, HostEvacuationState, evacuate.reportEvacuation);

export const checkRecovery = handlerWith(deps, HostRecoveryState, recover.checkRecovery);
export const cleanStaleDomains = handlerWith(deps, HostRecoveryState, recover.cleanStaleDomains);
export const releaseHostRecords = handlerWith(deps, HostRecoveryState, recover.releaseHostRecords);
export const finishRecovery = handlerWith(deps, HostRecoveryState, recover.finishRecovery);
