import { readFileSync } from "node:fs";
import { SFNClient } from "@aws-sdk/client-sfn";

export const REGION = "us-east-1";
export const CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

export function lambdaArn(name: string): string {
  return `arn:aws:lambda:${REGION}:000000000000:function:${name}`;
}

export function sfnClient(endpoint: string): SFNClient {
  return new SFNClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolve exposed, to hold a handler until the test releases it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
