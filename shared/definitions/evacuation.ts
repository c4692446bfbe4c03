/**
 * A dead host's evacuation as the stack configures it (`evacuation.policy`, `evacuation.maxConcurrency` in
 * cdk/config.ts): the policies and the defaults the host-failure functions use when nothing is set. The
 * stack reads them here (it imports definitions, not the domain).
 */
export { DEFAULT_HOST_FAILURE_CONFIG, EVACUATION_POLICIES } from "../domain/host-failure.js";
