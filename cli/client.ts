/**
 * The CLI's API client: JSON over HTTP to the Lazarus API. Locally plain HTTP to the local cloud; in AWS
 * the API Gateway's IAM authorization wants SigV4 (service `execute-api`), signed with credentials from
 * the standard chain (env, profile, SSO, instance role).
 */
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity } from "@smithy/types";
import { answerBody, faultMessage, signedHeaders } from "#shared/sigv4/api-request.js";
import { NodeSha256 } from "#shared/sigv4/node-sha256.js";

/** The microversion the CLI speaks unless a command needs another. */
export const CLI_MICROVERSION = "2.95";

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiCallError";
  }
}

/** The API did not answer at all (connection refused, DNS, timeout): the message names the URL. */
export class ApiUnreachable extends Error {
  constructor(url: string, cause: unknown) {
    const why = describeFetchFailure(cause);
    super(
      `cannot reach the Lazarus API at ${url} (${why}). Is it running? Set LAZARUS_API_URL or --url to the URL \`npm run local -- up\` (or the stack) prints.`,
    );
    this.name = "ApiUnreachable";
  }
}

/** fetch's "fetch failed" with the system error under it (ECONNREFUSED, ENOTFOUND, ...). */
function describeFetchFailure(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}

export interface ApiReply {
  status: number;
  headers: Headers;
  body: unknown;
}

/** node:crypto as the hash SignatureV4 expects (SHA-256, HMAC when given a secret). */
export interface ClientOptions {
  url: string;
  /** Sign with SigV4: default when the URL is an AWS endpoint. */
  sigv4?: boolean;
  region?: string;
  /** The credentials to sign with (default: the standard chain: env, profile, SSO, instance role). */
  credentials?: AwsCredentialIdentity;
}

/** `https://abc.execute-api.eu-west-1.amazonaws.com/prod` -> eu-west-1. */
function regionOf(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];
}

export class LazarusClient {
  private readonly base: URL;
  private readonly signer: SignatureV4 | null;

  constructor(opts: ClientOptions) {
    this.base = new URL(opts.url.endsWith("/") ? opts.url : `${opts.url}/`);
    const sign = opts.sigv4 ?? this.base.hostname.endsWith(".amazonaws.com");
    const region =
      opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? regionOf(this.base);
    if (sign && !region) throw new Error("SigV4 needs a region: set AWS_REGION or pass --region");
    this.signer = sign
      ? new SignatureV4({
          service: "execute-api",
          region: region!,
          credentials: opts.credentials ?? fromNodeProviderChain(),
          sha256: NodeSha256,
        })
      : null;
  }

  async call(
    method: string,
    path: string,
    opts: { body?: unknown; version?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiReply> {
    const url = new URL(`v2.1${path}`, this.base);
    const headers: Record<string, string> = {
      accept: "application/json",
      "openstack-api-version": `compute ${opts.version ?? CLI_MICROVERSION}`,
      ...(opts.headers ?? {}),
    };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers["content-type"] = "application/json";
    const fetchHeaders = this.signer ? await signedHeaders(this.signer, method, url, headers, body) : headers;
    let res: Response;
    try {
      res = await fetch(url, { method, headers: fetchHeaders, ...(body !== undefined ? { body } : {}) });
    } catch (e) {
      throw new ApiUnreachable(this.base.href.replace(/\/$/, ""), e);
    }
    const parsed = answerBody(await res.text());
    if (res.status >= 400) throw new ApiCallError(res.status, `${res.status}: ${faultMessage(parsed)}`);
    return { status: res.status, headers: res.headers, body: parsed };
  }

  async get<T>(path: string, version?: string): Promise<T> {
    return (await this.call("GET", path, version ? { version } : {})).body as T;
  }
}
