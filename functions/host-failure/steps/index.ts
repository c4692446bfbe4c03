/**
 * Every step of the host-failure flows by its handler name (the `handler` of HOST_FAILURE_FUNCTIONS in
 * shared/definitions/functions.ts, which the ASL files name through their `${...FunctionArn}` placeholders),
 * with the schema its input is parsed with. The Lambda handlers are built from this table, and so is the
 * policy simulator (test/unit/ha-simulator), which runs these same steps in the order the ASL defines.
 */
import { AlarmStateChangeEvent, PeerSilentEvent } from "#shared/domain/host-failure.js";
import { tableStep } from "#shared/lambda/handler.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import { ConfirmInput, HostEvacuationState, HostRecoveryState, OpenIncidentInput } from "../contract.js";
import * as detect from "./detect.js";
import * as evacuate from "./evacuate.js";
import * as fence from "./fence.js";
import * as guard from "./guard.js";
import * as incident from "./incident.js";
import * as migrations from "./migrations.js";
import * as recover from "./recover.js";
import * as trigger from "./trigger.js";

const step = tableStep<HostFailureDeps>();

export const HOST_FAILURE_STEPS = {
  onAlarmStateChange: step(AlarmStateChangeEvent, trigger.onAlarmStateChange),
  onPeerSilent: step(PeerSilentEvent, trigger.onPeerSilent),
  openIncident: step(OpenIncidentInput, incident.openIncident),
  closeNotDead: step(HostEvacuationState, incident.closeNotDead),
  abortIncident: step(HostEvacuationState, incident.abortIncident),
  assessHeartbeat: step(HostEvacuationState, detect.assessHeartbeat),
  sendProbe: step(HostEvacuationState, detect.sendProbe),
  probeHost: step(HostEvacuationState, detect.probeHost),
  watchSilentHost: step(HostEvacuationState, detect.watchSilentHost),
  checkMassFailure: step(HostEvacuationState, guard.checkMassFailure),
  holdIncident: step(HostEvacuationState, guard.holdIncident),
  disableHost: step(HostEvacuationState, evacuate.disableHost),
  fenceHost: step(HostEvacuationState, fence.fenceHost),
  awaitProof: step(HostEvacuationState, fence.awaitProof),
  endMigrationsFromHost: step(HostEvacuationState, migrations.endMigrationsFromHost),
  planEvacuation: step(HostEvacuationState, evacuate.planEvacuation),
  confirmEvacuation: step(ConfirmInput, evacuate.confirmEvacuation),
  reportEvacuation: step(HostEvacuationState, evacuate.reportEvacuation),
  checkRecovery: step(HostRecoveryState, recover.checkRecovery),
  cleanStaleDomains: step(HostRecoveryState, recover.cleanStaleDomains),
  releaseHostRecords: step(HostRecoveryState, recover.releaseHostRecords),
  finishRecovery: step(HostRecoveryState, recover.finishRecovery),
} as const;
export type HostFailureStepName = keyof typeof HOST_FAILURE_STEPS;
