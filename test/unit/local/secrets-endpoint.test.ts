/**
 * Where the local cloud keeps the BMC passwords (local/secrets/secrets-endpoint.ts), read the way a
 * delegate reads them: the real AWS CLI (Debian's awscli) with `--endpoint-url`, as the fence script runs
 * it. Secrets Manager's GetSecretValue (an unknown secret is the service's own error), SSM's GetParameter
 * with decryption on the SSM endpoint that serves the parameter operations.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SecretsEndpoint, startSecretsEndpoint } from "#local/secrets/secrets-endpoint.js";
import { type SsmEndpoint, startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";

let secrets: SecretsEndpoint;
let ssm: SsmEndpoint;

beforeAll(async () => {
  secrets = await startSecretsEndpoint();
  ssm = await startSsmEndpoint({ moreOperations: secrets.parameterOperations });
});

afterAll(async () => {
  await ssm.close();
  await secrets.close();
});

function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/aws",
      [...args, "--region", "us-east-1", "--output", "text"],
      {
        timeout: 60_000,
        env: {
          PATH: "/usr/bin:/bin",
          HOME: "/tmp",
          AWS_ACCESS_KEY_ID: "lazarus-host-test",
          AWS_SECRET_ACCESS_KEY: "local",
        },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe("the BMC passwords through the AWS CLI", () => {
  it("a Secrets Manager secret (by ARN here; names resolve the same way); a missing one is ResourceNotFoundException", async () => {
    const arn = secrets.putSecret("lazarus/bmc/oob-a/kvm-1", "Pa55-one");
    const r = await aws(
      "secretsmanager",
      "get-secret-value",
      "--endpoint-url",
      secrets.url,
      "--secret-id",
      arn,
      "--query",
      "SecretString",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("Pa55-one");
    const missing = await aws(
      "secretsmanager",
      "get-secret-value",
      "--endpoint-url",
      secrets.url,
      "--secret-id",
      "nope",
    );
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/ResourceNotFoundException/);
    expect(secrets.reads()["lazarus/bmc/oob-a/kvm-1"]).toBe(1);
  });

  it("an SSM SecureString parameter, decrypted", async () => {
    secrets.putParameter("/lazarus/bmc/oob-a/kvm-2", "Pa55-two");
    const get = (...extra: string[]) =>
      aws(
        "ssm",
        "get-parameter",
        "--endpoint-url",
        ssm.url,
        "--name",
        "/lazarus/bmc/oob-a/kvm-2",
        "--query",
        "Parameter.Value",
        ...extra,
      );
    const plain = await get("--with-decryption");
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toBe("Pa55-two");
    expect(secrets.values()).toEqual(expect.arrayContaining(["Pa55-two"]));
  });
});
