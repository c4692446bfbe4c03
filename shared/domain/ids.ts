import { createHash } from "node:crypto";

/**
 * A UUID (version 5 layout) derived from its parts: a retried step that creates a record with such an id
 * creates the same record again, which the store's conditional put turns into a no-op.
 */
export function deterministicUuid(...parts: string[]): string {
  const h = createHash("sha256").update(parts.join("\u0000")).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
