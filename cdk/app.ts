/**
 * The CDK app: `npm run synth` (offline: no credentials, no Docker) and `npx cdk deploy`.
 * Settings come from cdk/lazarus.config.json, or from the file named by `-c lazarusConfig=<path>`.
 * cdk-nag's AwsSolutions and Serverless packs run as validation plugins on every synth.
 */
import { App } from "aws-cdk-lib";
import { loadConfig } from "./config.js";
import { LazarusStack } from "./lazarus-stack.js";
import { addNagChecks } from "./nag.js";

const app = new App();
const configFile = app.node.tryGetContext("lazarusConfig") as string | undefined;
const config = loadConfig(configFile);
new LazarusStack(app, "Lazarus", {
  config,
  description: "Lazarus: rebuild and evacuate KVM instances (Step Functions, Lambda, DynamoDB, SSM)",
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  // CloudFormation takes templates up to 1 MB: indented, this one is over (the console's files, one
  // document per host operation, a role per function); unindented it is about 0.78 MB.
  suppressTemplateIndentation: true,
});
addNagChecks(app);
app.synth();
