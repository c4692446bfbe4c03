/** The conductor's Lambda handlers: each parses the flow state and runs one step. */
import { FlowState } from "#shared/flow/contract.js";
import { stepHandler } from "#shared/lambda/handler.js";
import { accept as acceptStep } from "./steps/accept.js";
import {
  handleFailure as handleFailureStep,
  handleNoValidHost as handleNoValidHostStep,
} from "./steps/fail.js";
import { finish as finishStep } from "./steps/finish.js";
import { prepareReschedule as prepareRescheduleStep } from "./steps/prepare-reschedule.js";
import { schedule as scheduleStep } from "./steps/schedule.js";

export const accept = stepHandler(FlowState, acceptStep);
export const schedule = stepHandler(FlowState, scheduleStep);
export const handleNoValidHost = stepHandler(FlowState, handleNoValidHostStep);
export const prepareReschedule = stepHandler(FlowState, prepareRescheduleStep);
export const finish = stepHandler(FlowState, finishStep);
export const handleFailure = stepHandler(FlowState, handleFailureStep);
