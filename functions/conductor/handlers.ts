/** The conductor's Lambda handlers: each parses its input and runs one step. */
import { AcceptInput, FailedFlow, FlowState } from "#shared/flow/contract.js";
import { stepHandler } from "#shared/lambda/handler.js";
import { accept as acceptStep } from "./steps/accept.js";
import { finish as finishStep } from "./steps/finish.js";
import { handleFailure as handleFailureStep } from "./steps/handle-failure.js";
import { prepareReschedule as prepareRescheduleStep } from "./steps/prepare-reschedule.js";
import { schedule as scheduleStep } from "./steps/schedule.js";

export const accept = stepHandler(AcceptInput, acceptStep);
export const schedule = stepHandler(FlowState, scheduleStep);
export const prepareReschedule = stepHandler(FlowState, prepareRescheduleStep);
export const finish = stepHandler(FlowState, finishStep);
export const handleFailure = stepHandler(FailedFlow, handleFailureStep);
