/**
 * The `ec2` power fence's adapter: power a host off without its cooperation and see that it is off, or on
 * again. For an EC2 bare-metal host, `ec2:StopInstances` with `Force` (no clean shutdown: the host may be
 * hung) on the host's instance id, then `ec2:DescribeInstances` until it is `stopped`; `ec2:StartInstances`
 * powers it on. Locally the same SDK calls reach the local cloud's EC2 endpoint (`AWS_ENDPOINT_URL_EC2`),
 * which cuts the host's power (every process killed) or restores it. The timing (a fence that does not
 * answer in time has timed out) is the policy's (`judgeFence`), in shared/flow/host-power.ts. (Hosts with a
 * BMC are fenced through a delegate's fence agent instead: shared/hosts/fence-agent.ts.)
 */
import {
  DescribeInstancesCommand,
  type EC2Client,
  StartInstancesCommand,
  StopInstancesCommand,
} from "@aws-sdk/client-ec2";

export interface PowerFence {
  /** Asks for a forced power-off; throws when the request is refused. */
  requestPowerOff(instanceId: string): Promise<void>;
  /** Asks for a power-on (an operator bringing a repaired host back); throws when refused. */
  requestPowerOn(instanceId: string): Promise<void>;
  /** The instance's power state as the fence sees it (EC2: pending, running, stopping, stopped, ...). */
  powerState(instanceId: string): Promise<string>;
}

export class Ec2PowerFence implements PowerFence {
  constructor(private readonly client: EC2Client) {}

  async requestPowerOff(instanceId: string): Promise<void> {
    await this.client.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: true }));
  }

  async requestPowerOn(instanceId: string): Promise<void> {
    await this.client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  }

  async powerState(instanceId: string): Promise<string> {
    const out = await this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const inst = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
    return inst?.State?.Name ?? "unknown";
  }
}
