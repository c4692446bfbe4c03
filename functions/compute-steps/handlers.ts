/** The compute steps' Lambda handlers: each parses the flow state and runs one step on the target. */
import { BootState, DeleteState } from "#shared/flow/boot-contract.js";
import { FlowState } from "#shared/flow/contract.js";
import { stepHandler } from "#shared/lambda/handler.js";
import { attachVolumes as attachVolumesStep } from "./steps/attach-volumes.js";
import { bootRootDisk as bootRootDiskStep } from "./steps/boot-root-disk.js";
import { checkInstanceNotOnTarget as checkInstanceNotOnTargetStep } from "./steps/check-instance-not-on-target.js";
import { checkSharedStorage as checkSharedStorageStep } from "./steps/check-shared-storage.js";
import { cleanUpBoot as cleanUpBootStep } from "./steps/clean-up-boot.js";
import { cleanUpTarget as cleanUpTargetStep } from "./steps/clean-up-target.js";
import { destroy as destroyStep } from "./steps/destroy.js";
import { destroyInstance as destroyInstanceStep } from "./steps/destroy-instance.js";
import { detachVolumes as detachVolumesStep } from "./steps/detach-volumes.js";
import { powerOff as powerOffStep } from "./steps/power-off.js";
import { prepareBoot as prepareBootStep } from "./steps/prepare-boot.js";
import { prepareRootDisk as prepareRootDiskStep } from "./steps/prepare-root-disk.js";
import { prepareTarget as prepareTargetStep } from "./steps/prepare-target.js";
import { rebindPorts as rebindPortsStep } from "./steps/rebind-ports.js";
import { spawn as spawnStep } from "./steps/spawn.js";
import { spawnBoot as spawnBootStep } from "./steps/spawn-boot.js";
import { updateInstanceState as updateInstanceStateStep } from "./steps/update-instance-state.js";
import { verifyRecreate as verifyRecreateStep } from "./steps/verify-recreate.js";

export const verifyRecreate = stepHandler(FlowState, verifyRecreateStep);
export const checkInstanceNotOnTarget = stepHandler(FlowState, checkInstanceNotOnTargetStep);
export const checkSharedStorage = stepHandler(FlowState, checkSharedStorageStep);
export const prepareTarget = stepHandler(FlowState, prepareTargetStep);
export const updateInstanceState = stepHandler(FlowState, updateInstanceStateStep);
export const rebindPorts = stepHandler(FlowState, rebindPortsStep);
export const powerOff = stepHandler(FlowState, powerOffStep);
export const detachVolumes = stepHandler(FlowState, detachVolumesStep);
export const destroy = stepHandler(FlowState, destroyStep);
export const attachVolumes = stepHandler(FlowState, attachVolumesStep);
export const prepareRootDisk = stepHandler(FlowState, prepareRootDiskStep);
export const spawn = stepHandler(FlowState, spawnStep);
export const cleanUpTarget = stepHandler(FlowState, cleanUpTargetStep);

// The boot flow's steps on its host, and the delete flow's.
export const prepareBoot = stepHandler(BootState, prepareBootStep);
export const bootRootDisk = stepHandler(BootState, bootRootDiskStep);
export const spawnBoot = stepHandler(BootState, spawnBootStep);
export const cleanUpBoot = stepHandler(BootState, cleanUpBootStep);
export const destroyInstance = stepHandler(DeleteState, destroyInstanceStep);
