/** The host-drain machine's Lambda handlers (issue 32): each parses its input and runs one step. */

import { ConfirmMoveInput, HostDrainState, StartDrainInput } from "#shared/flow/drain-contract.js";
import { handlerWith } from "#shared/lambda/handler.js";
import { maintenanceDepsFromEnv } from "#shared/lambda/maintenance-runtime.js";
import * as drain from "./steps/drain.js";

const deps = maintenanceDepsFromEnv;

export const startDrain = handlerWith(deps, StartDrainInput, drain.startDrain);
export const planDrain = handlerWith(deps, HostDrainState, drain.planDrain);
export const confirmMove = handlerWith(deps, ConfirmMoveInput, drain.confirmMove);
export const reportDrain = handlerWith(deps, HostDrainState, drain.reportDrain);
export const abortDrain = handlerWith(deps, HostDrainState, drain.abortDrain);
