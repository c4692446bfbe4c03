/**
 * SigV4 in the browser: the AWS SDK's own signer (@smithy/signature-v4, as the CLI uses) with the page's
 * WebCrypto as its SHA-256 / HMAC-SHA256. API Gateway's IAM authorization checks the signature and the
 * role's policy (shared/definitions/api-access.ts) before the API sees the request.
 */
import { SignatureV4 } from "@smithy/signature-v4";

type Data = string | ArrayBuffer | ArrayBufferView;

function bytes(d: Data): Uint8Array {
  if (typeof d === "string") return new TextEncoder().encode(d);
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return new Uint8Array(d);
}

/** The hash SignatureV4 takes: data collected by `update`, hashed (or HMAC'ed with `secret`) by `digest`. */
export class WebCryptoSha256 {
  private readonly chunks: Uint8Array[] = [];
  constructor(private readonly secret?: Data) {}

  update(data: Data): void {
    this.chunks.push(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    const size = this.chunks.reduce((n, c) => n + c.length, 0);
    const data = new Uint8Array(size);
    let at = 0;
    for (const c of this.chunks) {
      data.set(c, at);
      at += c.length;
    }
    if (this.secret === undefined) return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const key = await crypto.subtle.importKey(
      "raw",
      bytes(this.secret) as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
  }
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export function apiSigner(region: string, credentials: () => Promise<AwsCredentials>): SignatureV4 {
  return new SignatureV4({ service: "execute-api", region, credentials, sha256: WebCryptoSha256 });
}
