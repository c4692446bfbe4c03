/**
 * The SHA-256 / HMAC-SHA256 that `@smithy/signature-v4`'s SignatureV4 takes (`sha256:`), from node:crypto:
 * the CLI signs API requests with it, the local endpoints check signatures with it.
 */
import { createHash, createHmac } from "node:crypto";

type Data = string | ArrayBuffer | ArrayBufferView;

const bytes = (d: Data) =>
  typeof d === "string"
    ? d
    : ArrayBuffer.isView(d)
      ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      : new Uint8Array(d);

export class NodeSha256 {
  private readonly hash;
  constructor(secret?: Data) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: Data): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}
