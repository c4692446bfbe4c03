/**
 * The tag that marks an SSM managed instance (hybrid `mi-...` or EC2 `i-...`) as a Lazarus KVM host.
 * Registration refuses a host without it, and the CDK stack uses the same key in the IAM conditions
 * that limit SendCommand to tagged hosts (`ssm:resourceTag/lazarus:kvm-host = true`).
 */
export const KVM_HOST_TAG_KEY = "lazarus:kvm-host";
export const KVM_HOST_TAG_VALUE = "true";
