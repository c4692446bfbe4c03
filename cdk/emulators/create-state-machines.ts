/**
 * Creates every machine of STATE_MACHINES in a Step Functions emulator (Step Functions Local, LocalStack,
 * or this project's local endpoint), with the placeholders filled as the CDK stack and the local cloud
 * fill them. The SDK client honours AWS_ENDPOINT_URL_SFN. Usage (see docs/DEPLOY.md):
 *
 *   AWS_ENDPOINT_URL_SFN=http://127.0.0.1:8083 npx tsx cdk/emulators/create-state-machines.ts
 *
 * Lambda ARNs are `arn:aws:lambda:<region>:<account>:function:<prefix>-<id>`; the emulator resolves them
 * by name against its Lambda endpoint (Step Functions Local's LAMBDA_ENDPOINT).
 */
import { CreateStateMachineCommand, ListStateMachinesCommand, SFNClient } from "@aws-sdk/client-sfn";
import { lambdaArn } from "#shared/definitions/functions.js";
import {
  definitionSubstitutions,
  deployedName,
  placeholdersOf,
  readDefinition,
  STATE_MACHINES,
  stateMachineArn,
} from "#shared/definitions/state-machines.js";

export interface EmulatorTarget {
  client: SFNClient;
  prefix: string;
  region: string;
  account: string;
}

/** Creates the machines that do not exist yet; returns name -> ARN for all of them. */
export async function createStateMachines(target: EmulatorTarget): Promise<Record<string, string>> {
  const { prefix, region, account } = target;
  const substitutions = definitionSubstitutions(prefix, {
    lambda: (name) => lambdaArn(name, region, account),
    stateMachine: (name) => stateMachineArn(name, region, account),
  });
  const existing = new Map<string, string>();
  let nextToken: string | undefined;
  do {
    const page = await target.client.send(new ListStateMachinesCommand({ nextToken }));
    for (const m of page.stateMachines ?? []) existing.set(m.name!, m.stateMachineArn!);
    nextToken = page.nextToken;
  } while (nextToken);

  const created: Record<string, string> = {};
  for (const spec of STATE_MACHINES) {
    const name = deployedName(prefix, spec.id);
    const raw = readDefinition(spec);
    const missing = placeholdersOf(raw).filter((p) => substitutions[p] === undefined);
    if (missing.length > 0) throw new Error(`${spec.file}: nothing fills ${missing.join(", ")}`);
    const definition = raw.replace(/\$\{([^}]+)\}/g, (_whole, p: string) => substitutions[p]!);
    created[name] =
      existing.get(name) ??
      (
        await target.client.send(
          new CreateStateMachineCommand({
            name,
            definition,
            roleArn: `arn:aws:iam::${account}:role/${prefix}-emulator`,
          }),
        )
      ).stateMachineArn!;
  }
  return created;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const region = process.env.AWS_REGION ?? "us-east-1";
  const machines = await createStateMachines({
    client: new SFNClient({ region }),
    prefix: process.env.LAZARUS_PREFIX ?? "lazarus",
    region,
    account: process.env.LAZARUS_ACCOUNT ?? "000000000000",
  });
  for (const [name, arn] of Object.entries(machines)) process.stdout.write(`${name}\t${arn}\n`);
}
