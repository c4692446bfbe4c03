/**
 * Idempotent mutating requests. A request carrying `Idempotency-Key` is remembered for a day under that
 * key, so a client that retries after a lost answer gets the first answer (`Idempotent-Replayed: true`)
 * and starts nothing new. Without a key every request is a new one, as in nova: the same rebuild sent
 * twice rebuilds twice (the second is refused 409 while the first holds the instance). Only answers that
 * started something (2xx) are kept: a refusal changed nothing, so a retry is decided afresh. The request id
 * a kept request used (migration id, execution name) is stored with it.
 */
import { createHash, randomUUID } from "node:crypto";
import type { IdempotencyStore } from "#shared/store/idempotency-store.js";
import { ApiError, type ApiResponse } from "./http.js";

export const KEYED_TTL_SECONDS = 24 * 3600;
/** A holder that has not answered within this is presumed dead; a retry may take over. */
const LEASE_MS = 60_000;

export interface IdempotentRequest {
  method: string;
  path: string;
  version: string;
  /** The parsed body (hashed in a canonical form, so key order does not matter). */
  body: unknown;
  key: string | undefined;
  principal: string | null;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function requestHash(r: Omit<IdempotentRequest, "key" | "principal">): string {
  return createHash("sha256")
    .update(`${r.method} ${r.path} ${r.version}\n${canonical(r.body)}`)
    .digest("hex");
}

/** Printable ASCII, as the IETF draft's examples; long enough for a UUID or a client's own scheme. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export async function idempotent(
  store: IdempotencyStore,
  req: IdempotentRequest,
  run: (requestId: string) => Promise<ApiResponse>,
): Promise<ApiResponse> {
  if (req.key !== undefined && !KEY_PATTERN.test(req.key)) {
    throw new ApiError(400, "Idempotency-Key must be 1-255 printable ASCII characters.");
  }
  // No key: the client does not say this is a retry, so it is a new request.
  if (req.key === undefined) return run(randomUUID());
  const hash = requestHash(req);
  const scope = req.principal ?? "anonymous";
  const begun = await store.begin({
    key: `key:${scope}:${req.key}`,
    requestHash: hash,
    requestId: randomUUID(),
    ttlSeconds: KEYED_TTL_SECONDS,
    leaseMs: LEASE_MS,
  });
  switch (begun.kind) {
    case "replay":
      return { ...begun.response, headers: { ...begun.response.headers, "idempotent-replayed": "true" } };
    case "in-progress":
      throw new ApiError(409, "The same request is still being processed; retry later.", {
        "retry-after": "2",
      });
    case "mismatch":
      throw new ApiError(422, "This Idempotency-Key was already used for a different request.");
    case "started":
      break;
  }
  const { key, requestId } = begun.record;
  let response: ApiResponse;
  try {
    response = await run(requestId);
  } catch (e) {
    await store.abandon(key, requestId);
    throw e;
  }
  if (response.status >= 200 && response.status < 300) await store.complete(key, requestId, response);
  else await store.abandon(key, requestId);
  return response;
}
