/**
 * The console's one way to the state: the Lazarus API, as the CLI calls it. Every request is SigV4-signed
 * with the signed-in role's credentials. A GET goes through the browser's cache, which asks again with the
 * answer's entity tag (the API answers `Cache-Control: private, no-cache` and an ETag): an unchanged answer
 * is a 304 without a body, and the page gets the stored one, with its tag. An error is the API's own message
 * (nova's fault, or the gateway's refusal in the same shape).
 */
import type { SignatureV4 } from "@smithy/signature-v4";
import { answerBody, faultMessage, signedHeaders } from "#shared/sigv4/api-request.js";

/** The microversion the console speaks: service ids are UUIDs (PUT /os-services/{id}) from 2.53. */
export const CONSOLE_MICROVERSION = "2.53";

export class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiRefusal";
  }
}

export interface ApiAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly signer: SignatureV4,
  ) {}

  /** `path` below `/v2.1`, e.g. `/os-hosts`. */
  async call<T = unknown>(
    method: string,
    path: string,
    opts: { body?: unknown; version?: string } = {},
  ): Promise<ApiAnswer<T>> {
    const url = new URL(`${this.baseUrl}/v2.1${path}`);
    const headers: Record<string, string> = {
      accept: "application/json",
      "openstack-api-version": `compute ${opts.version ?? CONSOLE_MICROVERSION}`,
    };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(url, {
      method,
      headers: await signedHeaders(this.signer, method, url, headers, body),
      cache: method === "GET" ? "no-cache" : "no-store",
      credentials: "omit",
      ...(body !== undefined ? { body } : {}),
    });
    const parsed = answerBody(await res.text());
    if (res.status >= 400) throw new ApiRefusal(res.status, faultMessage(parsed));
    return { status: res.status, headers: res.headers, body: parsed as T };
  }
}
