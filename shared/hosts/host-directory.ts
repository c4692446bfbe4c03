/**
 * Who the fleet's machines are, as the host management service (SSM) knows them: is this managed
 * instance registered, is its agent online, does it carry the Lazarus KVM host tag. Registration depends
 * only on this interface; `ssm-host-directory.ts` implements it over the SSM API.
 */

export interface ManagedHostInfo {
  managedInstanceId: string;
  /** The machine's host name as its agent reports it (a default for the compute host name). */
  computerName: string | null;
  pingStatus: "Online" | "ConnectionLost" | "Inactive";
  /** Carries KVM_HOST_TAG_KEY = KVM_HOST_TAG_VALUE (shared/definitions/host-tag.ts). */
  tagged: boolean;
}

export interface HostDirectory {
  /** null when the id is not a managed instance SSM knows. */
  describe(managedInstanceId: string): Promise<ManagedHostInfo | null>;
  /**
   * Puts tags on a hybrid node (`mi-`, SSM AddTagsToResource); false for an EC2 instance (`i-`), whose tags
   * are EC2's (its operator tags it there), and nothing is done.
   */
  tag(managedInstanceId: string, tags: Record<string, string>): Promise<boolean>;
  /** Removes tags from a hybrid node (a node SSM no longer knows has none to remove); false for `i-`. */
  untag(managedInstanceId: string, keys: string[]): Promise<boolean>;
}
