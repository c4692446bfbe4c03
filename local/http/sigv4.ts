/**
 * SigV4 on the local AWS endpoints, checked as AWS checks it: the request must carry an `Authorization:
 * AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=..., Signature=...`
 * header made with a secret the local cloud issued (`LocalCredentials`), for this endpoint's service, within
 * 15 minutes of now. The signature is computed again here by the SDK's own signer (@smithy/signature-v4)
 * over the same method, path, query, signed headers and body bytes, and compared. An unsigned request is
 * `MissingAuthenticationToken` (403), a wrong one `SignatureDoesNotMatch` / `InvalidClientTokenId` (403).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import { NodeSha256 } from "#shared/sigv4/node-sha256.js";
import { AwsJsonError } from "./aws-json.js";

/** Who may call the local endpoints: access key id -> secret (and who it belongs to, for logs and tests). */
export interface LocalCredential {
  accessKeyId: string;
  secretAccessKey: string;
  /** "control-plane", or the host the key was issued to. */
  principal: string;
}

/** The fixed key pairs the control plane's in-process SDK clients sign with locally ("local" and "test"). */
export const CONTROL_PLANE_KEYS = [
  { accessKeyId: "local", secretAccessKey: "local" },
  { accessKeyId: "test", secretAccessKey: "test" },
] as const;

export class LocalCredentials {
  private readonly byKey = new Map<string, LocalCredential>();

  constructor() {
    for (const k of CONTROL_PLANE_KEYS) this.add(k.accessKeyId, k.secretAccessKey, "control-plane");
  }

  /** Accepts a fixed key pair. */
  add(accessKeyId: string, secretAccessKey: string, principal: string): LocalCredential {
    const c = { accessKeyId, secretAccessKey, principal };
    this.byKey.set(accessKeyId, c);
    return c;
  }

  /** Issues a new random key pair to `principal` (a host), as IAM issues a role's credentials. */
  issue(principal: string): LocalCredential {
    const id = `LZ${randomBytes(9).toString("hex").toUpperCase()}`;
    return this.add(id, randomBytes(30).toString("base64url"), principal);
  }

  /** Withdraws a key (a host deregistered, or its network cut): its requests are refused from now on. */
  revoke(accessKeyId: string): void {
    this.byKey.delete(accessKeyId);
  }

  get(accessKeyId: string): LocalCredential | undefined {
    return this.byKey.get(accessKeyId);
  }
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;\-.]+),\s*Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 15 * 60_000;

export interface SignedRequest {
  method: string;
  /** Path and query as received (`req.url`). */
  url: string;
  headers: IncomingHttpHeaders;
  /** The body bytes as received (before any gzip inflation: the SDK signs what it sends). */
  body: Buffer;
}

/**
 * Checks the request's SigV4 signature for `service`; returns the caller's credential, or throws the
 * AwsJsonError AWS answers with.
 */
export async function verifySigV4(
  req: SignedRequest,
  service: string,
  credentials: LocalCredentials,
): Promise<LocalCredential> {
  const auth = String(req.headers.authorization ?? "");
  if (auth === "") {
    throw new AwsJsonError("MissingAuthenticationToken", "Request is missing Authentication Token", 403);
  }
  const m = AUTH.exec(auth);
  if (!m) throw new AwsJsonError("IncompleteSignature", "Authorization header is not a SigV4 signature", 403);
  const [, keyId, day, region, signedService, signedHeaderList, signature] = m as unknown as string[];
  const credential = credentials.get(keyId!);
  if (!credential) {
    throw new AwsJsonError(
      "InvalidClientTokenId",
      "The security token included in the request is invalid.",
      403,
    );
  }
  if (signedService !== service) {
    throw new AwsJsonError(
      "InvalidSignatureException",
      `Credential should be scoped to service '${service}'`,
      403,
    );
  }
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!at || !amzDate.startsWith(day!)) {
    throw new AwsJsonError(
      "IncompleteSignature",
      "X-Amz-Date is missing or does not match the credential's date",
      403,
    );
  }
  const signingDate = new Date(Date.UTC(+at[1]!, +at[2]! - 1, +at[3]!, +at[4]!, +at[5]!, +at[6]!));
  if (Math.abs(Date.now() - signingDate.getTime()) > MAX_SKEW_MS) {
    throw new AwsJsonError(
      "InvalidSignatureException",
      "Signature expired: the request time is too skewed",
      403,
    );
  }
  const signedHeaders = signedHeaderList!.split(";");
  if (!signedHeaders.includes("host")) {
    throw new AwsJsonError("IncompleteSignature", "the host header must be signed", 403);
  }
  const headers: Record<string, string> = {};
  for (const h of signedHeaders) {
    const v = req.headers[h];
    if (v === undefined) throw new AwsJsonError("IncompleteSignature", `signed header ${h} is missing`, 403);
    headers[h] = Array.isArray(v) ? v.join(",") : v;
  }
  const url = new URL(req.url, "http://local");
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
    region: region!,
    service,
    sha256: NodeSha256,
    // Sign exactly the headers the caller signed: by default the signer adds x-amz-content-sha256 to the
    // request it signs, which the AWS CLI (botocore) neither sends nor signs, so its signature never matched.
    applyChecksum: false,
  });
  const [hostname, port] = (headers.host ?? "").split(":");
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: "http:",
      hostname: hostname ?? "",
      ...(port ? { port: Number(port) } : {}),
      path: url.pathname,
      query,
      headers,
      body: req.body,
    },
    { signingDate, signingRegion: region!, signingService: service },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ""))?.[1] ?? "";
  if (
    expected.length !== signature!.length ||
    !timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))
  ) {
    throw new AwsJsonError(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided.",
      403,
    );
  }
  return credential;
}

/** `awsJsonHandler`'s `authenticate` for one service: SigV4 checked against `credentials`, the principal returned. */
export function sigV4Authenticator(service: string, credentials: LocalCredentials) {
  return async (req: IncomingMessage, body: Buffer): Promise<string> =>
    (
      await verifySigV4(
        { method: req.method ?? "POST", url: req.url ?? "/", headers: req.headers, body },
        service,
        credentials,
      )
    ).principal;
}
