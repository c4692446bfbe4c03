/** Exit codes of the host documents' scripts that the control plane reads (ssm-documents/snippets.ts). */

/** virsh itself failed (libvirt unreachable, unexpected output): the host could not tell. */
export const EXIT_VIRSH_FAILED = 2;
/** The domain is in a state the operation refuses to act on (retry later). */
export const EXIT_UNEXPECTED_STATE = 3;
/** The domain is not defined on the host (a start of an absent domain). */
export const EXIT_DOMAIN_ABSENT = 4;
