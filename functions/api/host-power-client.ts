/**
 * The API's way to a host's power: an asynchronous Lambda Invoke (`Event`) of the host-power function
 * (functions/host-power), which alone runs the fence agents and the EC2 calls and may take as long as a
 * BMC needs. The API answers 202 at once; the action's record appears in the host's power log under the
 * request id (GET /os-hosts/{host}/power), which the CLI follows.
 */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { HOST_POWER_FUNCTION } from "#shared/definitions/functions.js";
import type { HostPowerRequest } from "#shared/flow/host-power.js";
import { ApiError } from "./http.js";

export interface HostPowerOps {
  /** Starts the action; resolves once the host-power function has it (not when it is done). */
  start(request: HostPowerRequest): Promise<void>;
}

export class LambdaHostPower implements HostPowerOps {
  constructor(
    private readonly client: LambdaClient,
    private readonly nameOf: (id: string) => string,
  ) {}

  async start(request: HostPowerRequest): Promise<void> {
    const out = await this.client.send(
      new InvokeCommand({
        FunctionName: this.nameOf(HOST_POWER_FUNCTION.id),
        InvocationType: "Event",
        Payload: Buffer.from(JSON.stringify(request)),
      }),
    );
    if (out.StatusCode !== 202)
      throw new ApiError(502, `the host-power function did not take the request (${out.StatusCode})`);
  }
}
