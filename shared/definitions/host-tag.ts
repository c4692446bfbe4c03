/**
 * The tag that makes a machine a Lazarus KVM host for IAM: Lazarus's roles may run commands on
 * (`ssm:SendCommand`) and power off (`ec2:StopInstances`) only machines that carry it. Put it on the
 * SSM managed instance (hybrid activation, `mi-...`) or on the EC2 bare-metal instance of each host.
 */
export const KVM_HOST_TAG = { key: "lazarus:kvm-host", value: "true" } as const;
