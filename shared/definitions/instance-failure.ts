/**
 * The host's instance-failure report as data: the EventBridge source and detail-type the host-side monitor
 * publishes and the trigger's rule matches. One definition, read by the monitor, the rule (functions.ts),
 * the CDK stack and the local cloud.
 */
export { DOMAIN_STOPPED_EVENT } from "../domain/instance-failure.js";

/** The monitor's own liveness: a heartbeat with a Component dimension beside the host's (its own stream). */
export const INSTANCE_MONITOR_COMPONENT = "instance-monitor";
/** The dimension naming a host component in its own heartbeat stream. */
export const COMPONENT_DIMENSION = "Component";
