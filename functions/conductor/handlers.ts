/** The conductor's Lambda handlers: each parses its input and runs one step. */
import { BootState, DeleteState, FailedBoot, FailedDelete } from "#shared/flow/boot-contract.js";
import { AcceptInput, FailedFlow, FlowState } from "#shared/flow/contract.js";
import { stepHandler } from "#shared/lambda/handler.js";
import { accept as acceptStep } from "./steps/accept.js";
import { acceptBoot as acceptBootStep } from "./steps/accept-boot.js";
import { acceptDelete as acceptDeleteStep } from "./steps/accept-delete.js";
import { finish as finishStep } from "./steps/finish.js";
import { finishBoot as finishBootStep } from "./steps/finish-boot.js";
import { finishDelete as finishDeleteStep } from "./steps/finish-delete.js";
import { handleBootFailure as handleBootFailureStep } from "./steps/handle-boot-failure.js";
import { handleDeleteFailure as handleDeleteFailureStep } from "./steps/handle-delete-failure.js";
import { handleFailure as handleFailureStep } from "./steps/handle-failure.js";
import { prepareReschedule as prepareRescheduleStep } from "./steps/prepare-reschedule.js";
import { schedule as scheduleStep } from "./steps/schedule.js";
import { scheduleBoot as scheduleBootStep } from "./steps/schedule-boot.js";

export const accept = stepHandler(AcceptInput, acceptStep);
export const schedule = stepHandler(FlowState, scheduleStep);
export const prepareReschedule = stepHandler(FlowState, prepareRescheduleStep);
export const finish = stepHandler(FlowState, finishStep);
export const handleFailure = stepHandler(FailedFlow, handleFailureStep);

// The boot flow (state-machines/boot.asl.json) and the delete flow (delete.asl.json).
export const acceptBoot = stepHandler(AcceptInput, acceptBootStep);
export const scheduleBoot = stepHandler(BootState, scheduleBootStep);
export const finishBoot = stepHandler(BootState, finishBootStep);
export const handleBootFailure = stepHandler(FailedBoot, handleBootFailureStep);
export const acceptDelete = stepHandler(AcceptInput, acceptDeleteStep);
export const finishDelete = stepHandler(DeleteState, finishDeleteStep);
export const handleDeleteFailure = stepHandler(FailedDelete, handleDeleteFailureStep);
