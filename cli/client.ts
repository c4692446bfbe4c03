/**
 * The CLI's API client: JSON over HTTP to the Lazarus API. Locally plain HTTP to the local cloud; in AWS
 * the API Gateway's IAM authorization wants SigV4 (service `execute-api`), signed with credentials from
 * the standard chain (env, profile, SSO, instance role).
 */
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { SignatureV4 } from "@smithy/signature-v4";
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
          credentials: fromNodeProviderChain(),
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
      host: url.host,
      "openstack-api-version": `compute ${opts.version ?? CLI_MICROVERSION}`,
      ...(opts.headers ?? {}),
    };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers["content-type"] = "application/json";
    let sent = headers;
    if (this.signer) {
      const signed = await this.signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      sent = signed.headers as Record<string, string>;
    }
    const { host: _host, ...fetchHeaders } = sent;
    const res = await fetch(url, { method, headers: fetchHeaders, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (res.status >= 400) throw new ApiCallError(res.status, faultMessage(res.status, parsed));
    return { status: res.status, headers: res.headers, body: parsed };
  }

  async get<T>(path: string, version?: string): Promise<T> {
    return (await this.call("GET", path, version ? { version } : {})).body as T;
  }
}

/** nova's `{"<fault>": {"code", "message"}}`, or API Gateway's `{"message"}`. */
function faultMessage(status: number, body: unknown): string {
  if (body && typeof body === "object") {
    const first = Object.values(body as Record<string, unknown>)[0];
    if (first && typeof first === "object" && "message" in first)
      return `${status}: ${String(first.message)}`;
    if ("message" in body) return `${status}: ${String((body as { message: unknown }).message)}`;
  }
  return `${status}: ${typeof body === "string" ? body : JSON.stringify(body)}`;
}
