/**
 * The emulator script (cdk/emulators/create-state-machines.ts) creates every machine through the Step
 * Functions API, here the local cloud's endpoint (what Step Functions Local or LocalStack would be for
 * a user with Docker), and a second run creates nothing twice.
 */
import { ListStateMachinesCommand, SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStateMachines } from "#cdk/emulators/create-state-machines.js";
import { LocalStepFunctions } from "#local/stepfunctions/runner.js";
import { type SfnEndpoint, startSfnEndpoint } from "#local/stepfunctions/sfn-endpoint.js";
import { deployedName, STATE_MACHINES } from "#shared/definitions/state-machines.js";

describe("create-state-machines against a Step Functions API endpoint", () => {
  let endpoint: SfnEndpoint;
  let client: SFNClient;
  beforeAll(async () => {
    endpoint = await startSfnEndpoint(new LocalStepFunctions());
    client = new SFNClient({
      endpoint: endpoint.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
  });
  afterAll(async () => {
    client.destroy();
    await endpoint.close();
  });

  it("creates every machine once, with its placeholders filled", async () => {
    const target = { client, prefix: "lazarus", region: "us-east-1", account: "000000000000" };
    const first = await createStateMachines(target);
    expect(Object.keys(first).sort()).toEqual(
      STATE_MACHINES.map((m) => deployedName("lazarus", m.id)).sort(),
    );
    const second = await createStateMachines(target);
    expect(second).toEqual(first);
    const listed = await client.send(new ListStateMachinesCommand({}));
    expect(listed.stateMachines?.map((m) => m.name).sort()).toEqual(Object.keys(first).sort());
  });
});
