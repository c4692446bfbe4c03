/**
 * Where the local cloud keeps the BMC passwords, behind the same APIs a deployment uses: a Secrets
 * Manager-compatible endpoint (AWS JSON 1.1, `secretsmanager.<Op>`: CreateSecret, PutSecretValue,
 * GetSecretValue, DeleteSecret) and the SSM parameter operations (PutParameter, GetParameter with
 * WithDecryption) that the local SSM endpoint serves beside Run Command (`parameterOperations`). A delegate
 * host's fence script reads them with the real AWS CLI (`aws secretsmanager get-secret-value`, `aws ssm
 * get-parameter --with-decryption`), signing with the host's own credentials, exactly as on a real host.
 * Signatures are not checked. Binds to 127.0.0.1 only; everything is in memory and gone with the run.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { AwsJsonError, type AwsJsonOperation, awsJsonHandler } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";

const ACCOUNT = "000000000000";

export interface SecretsEndpoint {
  /** AWS_ENDPOINT_URL_SECRETSMANAGER. */
  url: string;
  /** Creates or replaces a secret (its value a plain string); returns its ARN. */
  putSecret(name: string, value: string): string;
  /** Creates or replaces a SecureString parameter (served by the SSM endpoint through `parameterOperations`). */
  putParameter(name: string, value: string): void;
  /** Every secret and parameter value kept now (tests look for them where they must never be). */
  values(): string[];
  /** How many times each secret or parameter name was read decrypted. */
  reads(): Record<string, number>;
  /** The SSM parameter operations, for the local SSM endpoint. */
  parameterOperations: Readonly<Record<string, AwsJsonOperation>>;
  close(): Promise<void>;
}

const str = (input: Record<string, unknown>, key: string): string | undefined =>
  typeof input[key] === "string" ? (input[key] as string) : undefined;

export async function startSecretsEndpoint(opts: { region?: string } = {}): Promise<SecretsEndpoint> {
  const region = opts.region ?? "us-east-1";
  const secrets = new Map<string, { arn: string; value: string; versionId: string; created: Date }>();
  const parameters = new Map<string, { value: string; version: number; modified: Date }>();
  const readCounts: Record<string, number> = {};
  const read = (name: string) => {
    readCounts[name] = (readCounts[name] ?? 0) + 1;
  };

  const arnOf = (name: string) =>
    `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${name}-${createHash("sha256").update(name).digest("hex").slice(0, 6)}`;
  const put = (name: string, value: string) => {
    const existing = secrets.get(name);
    const entry = {
      arn: existing?.arn ?? arnOf(name),
      value,
      versionId: randomBytes(16).toString("hex"),
      created: existing?.created ?? new Date(),
    };
    secrets.set(name, entry);
    return entry;
  };
  /** A secret by name or ARN (as Secrets Manager resolves SecretId). */
  const find = (id: string | undefined) => {
    if (!id) throw new AwsJsonError("InvalidParameterException", "SecretId is required");
    for (const [name, s] of secrets) if (name === id || s.arn === id) return { name, ...s };
    throw new AwsJsonError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
  };

  const secretsOps: Record<string, AwsJsonOperation> = {
    CreateSecret: (input) => {
      const name = str(input, "Name");
      const value = str(input, "SecretString");
      if (!name || value === undefined)
        throw new AwsJsonError("InvalidParameterException", "Name and SecretString are required");
      if (secrets.has(name))
        throw new AwsJsonError(
          "ResourceExistsException",
          `The operation failed because the secret ${name} already exists.`,
        );
      const s = put(name, value);
      return { ARN: s.arn, Name: name, VersionId: s.versionId };
    },
    PutSecretValue: (input) => {
      const { name } = find(str(input, "SecretId"));
      const value = str(input, "SecretString");
      if (value === undefined)
        throw new AwsJsonError("InvalidParameterException", "SecretString is required");
      const s = put(name, value);
      return { ARN: s.arn, Name: name, VersionId: s.versionId, VersionStages: ["AWSCURRENT"] };
    },
    GetSecretValue: (input) => {
      const s = find(str(input, "SecretId"));
      read(s.name);
      return {
        ARN: s.arn,
        Name: s.name,
        VersionId: s.versionId,
        SecretString: s.value,
        VersionStages: ["AWSCURRENT"],
        CreatedDate: s.created,
      };
    },
    DeleteSecret: (input) => {
      const s = find(str(input, "SecretId"));
      secrets.delete(s.name);
      return { ARN: s.arn, Name: s.name, DeletionDate: new Date() };
    },
  };

  const parameterOperations: Record<string, AwsJsonOperation> = {
    PutParameter: (input) => {
      const name = str(input, "Name");
      const value = str(input, "Value");
      if (!name || value === undefined)
        throw new AwsJsonError("ValidationException", "Name and Value are required");
      const existing = parameters.get(name);
      if (existing && input.Overwrite !== true)
        throw new AwsJsonError("ParameterAlreadyExists", "The parameter already exists.");
      const version = (existing?.version ?? 0) + 1;
      parameters.set(name, { value, version, modified: new Date() });
      return { Version: version, Tier: "Standard" };
    },
    GetParameter: (input) => {
      const raw = str(input, "Name") ?? "";
      const name = raw.replace(/^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/, "");
      const p = parameters.get(name) ?? parameters.get(name.replace(/^\//, ""));
      if (!p) throw new AwsJsonError("ParameterNotFound", `Parameter ${raw} not found.`);
      const decrypt = input.WithDecryption === true;
      if (decrypt) read(name);
      return {
        Parameter: {
          Name: name,
          Type: "SecureString",
          // Without WithDecryption SSM answers the ciphertext; a stand-in that is not the value.
          Value: decrypt
            ? p.value
            : Buffer.from(createHash("sha256").update(p.value).digest()).toString("base64"),
          Version: p.version,
          LastModifiedDate: p.modified,
          ARN: `arn:aws:ssm:${region}:${ACCOUNT}:parameter${name.startsWith("/") ? "" : "/"}${name}`,
          DataType: "text",
        },
      };
    },
  };

  const server = createServer(
    awsJsonHandler({ version: "1.1", targetPrefix: "secretsmanager", operations: secretsOps }),
  );
  const { url } = await listenOnLoopback(server);
  return {
    url,
    putSecret: (name, value) => put(name, value).arn,
    putParameter(name, value) {
      parameterOperations.PutParameter!({ Name: name, Value: value, Type: "SecureString", Overwrite: true });
    },
    values: () => [
      ...[...secrets.values()].map((s) => s.value),
      ...[...parameters.values()].map((p) => p.value),
    ],
    reads: () => ({ ...readCounts }),
    parameterOperations,
    close: () => closeServer(server),
  };
}
