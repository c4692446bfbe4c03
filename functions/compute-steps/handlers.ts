/** The compute steps' Lambda handlers: each parses the flow state and runs one step on the target. */
import { FlowState } from "#shared/flow/contract.js";
import { stepHandler } from "#shared/lambda/handler.js";
import * as checks from "./steps/checks.js";
import * as hypervisor from "./steps/hypervisor.js";
import * as instanceState from "./steps/instance-state.js";
import * as network from "./steps/network.js";
import * as volumes from "./steps/volumes.js";

export const verifyRecreate = stepHandler(FlowState, checks.verifyRecreate);
export const checkInstanceNotOnTarget = stepHandler(FlowState, checks.checkInstanceNotOnTarget);
export const checkSharedStorage = stepHandler(FlowState, checks.checkSharedStorage);
export const updateInstanceState = stepHandler(FlowState, instanceState.updateInstanceState);
export const rebindPorts = stepHandler(FlowState, network.rebindPorts);
export const detachVolumes = stepHandler(FlowState, volumes.detachVolumes);
export const attachVolumes = stepHandler(FlowState, volumes.attachVolumes);
export const powerOff = stepHandler(FlowState, hypervisor.powerOff);
export const destroy = stepHandler(FlowState, hypervisor.destroy);
export const prepareRootDisk = stepHandler(FlowState, hypervisor.prepareRootDisk);
export const spawn = stepHandler(FlowState, hypervisor.spawn);
export const cleanUpTarget = stepHandler(FlowState, hypervisor.cleanUpTarget);
