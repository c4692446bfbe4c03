/** The compute steps' Lambda handlers: each parses the flow state and runs one step on the target. */
import { FlowState } from "#shared/flow/contract.js";
import { stepHandler } from "#shared/lambda/handler.js";
import { attachVolumes as attachVolumesStep } from "./steps/attach-volumes.js";
import { checkInstanceNotOnTarget as checkInstanceNotOnTargetStep } from "./steps/check-instance-not-on-target.js";
import { checkSharedStorage as checkSharedStorageStep } from "./steps/check-shared-storage.js";
import { cleanUpTarget as cleanUpTargetStep } from "./steps/clean-up-target.js";
import { destroy as destroyStep } from "./steps/destroy.js";
import { detachVolumes as detachVolumesStep } from "./steps/detach-volumes.js";
import { powerOff as powerOffStep } from "./steps/power-off.js";
import { prepareRootDisk as prepareRootDiskStep } from "./steps/prepare-root-disk.js";
import { rebindPorts as rebindPortsStep } from "./steps/rebind-ports.js";
import { spawn as spawnStep } from "./steps/spawn.js";
import { updateInstanceState as updateInstanceStateStep } from "./steps/update-instance-state.js";
import { verifyRecreate as verifyRecreateStep } from "./steps/verify-recreate.js";

export const verifyRecreate = stepHandler(FlowState, verifyRecreateStep);
export const checkInstanceNotOnTarget = stepHandler(FlowState, checkInstanceNotOnTargetStep);
export const checkSharedStorage = stepHandler(FlowState, checkSharedStorageStep);
export const updateInstanceState = stepHandler(FlowState, updateInstanceStateStep);
export const rebindPorts = stepHandler(FlowState, rebindPortsStep);
export const powerOff = stepHandler(FlowState, powerOffStep);
export const detachVolumes = stepHandler(FlowState, detachVolumesStep);
export const destroy = stepHandler(FlowState, destroyStep);
export const attachVolumes = stepHandler(FlowState, attachVolumesStep);
export const prepareRootDisk = stepHandler(FlowState, prepareRootDiskStep);
export const spawn = stepHandler(FlowState, spawnStep);
export const cleanUpTarget = stepHandler(FlowState, cleanUpTargetStep);
