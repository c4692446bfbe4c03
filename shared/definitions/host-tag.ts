/**
 * The tag that makes a machine a Lazarus KVM host: registration refuses a host without it, and Lazarus's
 * IAM roles may run commands on (`ssm:SendCommand`) and power off (`ec2:StopInstances`) only machines
 * that carry it. Put it on the SSM managed instance (hybrid activation, `mi-...`) or on the EC2
 * bare-metal instance of each host.
 */
export const KVM_HOST_TAG = { key: "lazarus:kvm-host", value: "true" } as const;
export const KVM_HOST_TAG_KEY = KVM_HOST_TAG.key;
export const KVM_HOST_TAG_VALUE = KVM_HOST_TAG.value;

/**
 * The tag registration puts on the managed node (and deregistration removes): the compute host name the
 * node is registered as, so SSM's inventory names it and a node cannot silently serve two names.
 */
export const HOST_NAME_TAG_KEY = "lazarus:host";
