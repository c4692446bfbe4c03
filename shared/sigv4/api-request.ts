/**
 * How a client talks to the Lazarus API, the same from the CLI (Node) and the console (a browser): a
 * request signed with SigV4 for `execute-api` (the signer brings its own SHA-256: node:crypto or WebCrypto),
 * and an answer read as JSON with the API's message when it refuses. No I/O here: the callers fetch.
 */
import type { SignatureV4 } from "@smithy/signature-v4";

/** The headers to send for a request signed by `signer` (`host` is signed, and left to fetch to send). */
export async function signedHeaders(
  signer: SignatureV4,
  method: string,
  url: URL,
  headers: Record<string, string>,
  body?: string,
): Promise<Record<string, string>> {
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { ...headers, host: url.host },
    ...(body !== undefined ? { body } : {}),
  });
  const { host: _host, ...sent } = signed.headers as Record<string, string>;
  return sent;
}

/** An answer's body: its JSON, or its text when it is not JSON (null when empty). */
export function answerBody(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The message of a refusal: nova's `{"<fault>": {"code", "message"}}`, API Gateway's `{"message"}`, or the text. */
export function faultMessage(body: unknown): string {
  if (body && typeof body === "object") {
    const first = Object.values(body as Record<string, unknown>)[0];
    if (first && typeof first === "object" && "message" in first) return String(first.message);
    if ("message" in body) return String((body as { message: unknown }).message);
  }
  return typeof body === "string" ? body : JSON.stringify(body);
}
