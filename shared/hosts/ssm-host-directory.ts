/**
 * HostDirectory over SSM: DescribeInstanceInformation by id for the agent's state, and with a
 * `tag:<key>` filter for the tag. The tag filter works for hybrid nodes (`mi-`) and EC2 instances
 * (`i-`) alike, so one call covers both; SSM does not combine tag filters with an id filter, so the
 * tagged list is paged through.
 */
import {
  AddTagsToResourceCommand,
  DescribeInstanceInformationCommand,
  RemoveTagsFromResourceCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { KVM_HOST_TAG_KEY, KVM_HOST_TAG_VALUE } from "../definitions/host-tag.js";
import type { HostDirectory, ManagedHostInfo } from "./host-directory.js";

export class SsmHostDirectory implements HostDirectory {
  constructor(private readonly client: SSMClient) {}

  async describe(managedInstanceId: string): Promise<ManagedHostInfo | null> {
    const out = await this.client.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: "InstanceIds", Values: [managedInstanceId] }],
      }),
    );
    const info = out.InstanceInformationList?.find((i) => i.InstanceId === managedInstanceId);
    if (!info) return null;
    const ping = info.PingStatus;
    return {
      managedInstanceId,
      computerName: info.ComputerName ?? null,
      pingStatus: ping === "Online" ? "Online" : ping === "ConnectionLost" ? "ConnectionLost" : "Inactive",
      tagged: await this.isTagged(managedInstanceId),
    };
  }

  async tag(managedInstanceId: string, tags: Record<string, string>): Promise<boolean> {
    if (!managedInstanceId.startsWith("mi-")) return false;
    await this.client.send(
      new AddTagsToResourceCommand({
        ResourceType: "ManagedInstance",
        ResourceId: managedInstanceId,
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    return true;
  }

  async untag(managedInstanceId: string, keys: string[]): Promise<boolean> {
    if (!managedInstanceId.startsWith("mi-")) return false;
    try {
      await this.client.send(
        new RemoveTagsFromResourceCommand({
          ResourceType: "ManagedInstance",
          ResourceId: managedInstanceId,
          TagKeys: keys,
        }),
      );
    } catch (e) {
      if ((e as Error).name !== "InvalidResourceId") throw e;
    }
    return true;
  }

  private async isTagged(managedInstanceId: string): Promise<boolean> {
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: `tag:${KVM_HOST_TAG_KEY}`, Values: [KVM_HOST_TAG_VALUE] }],
          MaxResults: 50,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      if (out.InstanceInformationList?.some((i) => i.InstanceId === managedInstanceId)) return true;
      nextToken = out.NextToken;
    } while (nextToken);
    return false;
  }
}

export type HostPingStatus = "Online" | "ConnectionLost" | "Inactive";

/**
 * Agent liveness per managed-instance id, via DescribeInstanceInformation. Ids SSM does not list
 * (deregistered, unknown) are reported "Inactive".
 */
export async function describeHostPing(
  client: SSMClient,
  managedInstanceIds: readonly string[],
): Promise<Record<string, HostPingStatus>> {
  const result: Record<string, HostPingStatus> = {};
  for (const id of managedInstanceIds) result[id] = "Inactive";
  const ids = [...new Set(managedInstanceIds)];
  // The InstanceIds filter takes at most 50 values per call.
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    let nextToken: string | undefined;
    do {
      const out = await client.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: "InstanceIds", Values: chunk }],
          MaxResults: 50,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      for (const info of out.InstanceInformationList ?? []) {
        if (!info.InstanceId || !(info.InstanceId in result)) continue;
        const ping = info.PingStatus;
        result[info.InstanceId] =
          ping === "Online" ? "Online" : ping === "ConnectionLost" ? "ConnectionLost" : "Inactive";
      }
      nextToken = out.NextToken;
    } while (nextToken);
  }
  return result;
}
