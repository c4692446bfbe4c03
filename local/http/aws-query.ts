/**
 * The AWS Query protocol (form-encoded `Action=<Op>&Version=...`, XML answers), which AWS still serves
 * beside JSON for CloudWatch (and alone for EC2), and which the AWS CLI v2 Debian ships (2.9) speaks to
 * CloudWatch. The operations are the same functions the JSON endpoint runs: the request's form is read into
 * the JSON input shape, the JSON output written back as the query protocol's XML.
 *
 *   POST /  Content-Type: application/x-www-form-urlencoded
 *   Action=PutMetricData&Version=2010-08-01&MetricData.member.1.Dimensions.member.1.Name=Host&...
 *   200 <PutMetricDataResponse xmlns="..."><PutMetricDataResult>...</PutMetricDataResult>
 *       <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></PutMetricDataResponse>
 *   4xx/5xx <ErrorResponse xmlns="..."><Error><Type>Sender</Type><Code>...</Code><Message>...</Message>
 *       </Error><RequestId>...</RequestId></ErrorResponse>
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { AwsJsonError, type AwsJsonOperation, asAwsJsonError, readBody, sendBody } from "./aws-json.js";

export interface AwsQueryService {
  /** The XML namespace of answers, e.g. http://monitoring.amazonaws.com/doc/2010-08-01/ */
  xmlns: string;
  operations: Readonly<Record<string, AwsJsonOperation>>;
  /** Whether a field (by its path of names, list indexes left out) holds a number rather than a string. */
  isNumber(path: readonly string[]): boolean;
  /** Fields whose JSON output is epoch seconds and whose XML is an ISO 8601 time. */
  timestampFields: ReadonlySet<string>;
  /** Checks the caller (SigV4) before anything else, as the JSON endpoint of the same service does. */
  authenticate?(req: IncomingMessage, body: Buffer): Promise<string>;
}

/** Whether the request is the query protocol's (a form), not JSON. */
export function isQueryRequest(req: IncomingMessage): boolean {
  return String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
}

type Tree = { [key: string]: Tree | string };

/**
 * `A.member.2.B=x` -> `{A: [undefined, {B: "x"}]}`-like trees, then lists compacted: the query protocol
 * numbers list members from 1 (`member.N`); a map or structure is a dotted name.
 */
export function formToInput(
  form: URLSearchParams,
  service: Pick<AwsQueryService, "isNumber">,
): Record<string, unknown> {
  const root: Tree = {};
  for (const [key, value] of form) {
    if (key === "Action" || key === "Version") continue;
    const parts = key.split(".");
    let node: Tree = root;
    for (const part of parts.slice(0, -1)) {
      if (typeof node[part] !== "object") node[part] = {};
      node = node[part] as Tree;
    }
    node[parts.at(-1)!] = value;
  }
  return convert(root, [], service) as Record<string, unknown>;
}

function convert(node: Tree | string, path: string[], service: Pick<AwsQueryService, "isNumber">): unknown {
  if (typeof node === "string") {
    if (!service.isNumber(path)) return node;
    const n = Number(node);
    return Number.isFinite(n) ? n : node;
  }
  const keys = Object.keys(node);
  if (keys.length === 1 && keys[0] === "member") {
    const members = node.member as Tree;
    return Object.keys(members)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => a - b)
      .map((n) => convert(members[String(n)]!, path, service));
  }
  return Object.fromEntries(keys.map((k) => [k, convert(node[k]!, [...path, k], service)]));
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A JSON output value as the query protocol's XML: lists as `<member>`s, timestamps in ISO 8601. */
export function toXml(value: unknown, name: string, timestamps: ReadonlySet<string>): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) {
    const isTime = timestamps.has(name);
    return `<${name}>${value.map((v) => (isTime && typeof v === "number" ? `<member>${new Date(v * 1000).toISOString()}</member>` : toXml(v, "member", timestamps))).join("")}</${name}>`;
  }
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === "object") {
    const inner = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => toXml(v, k, timestamps))
      .join("");
    return `<${name}>${inner}</${name}>`;
  }
  if (typeof value === "number" && timestamps.has(name)) {
    return `<${name}>${new Date(value * 1000).toISOString()}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** Serves one query-protocol request with the service's operations. */
export async function handleQueryRequest(
  service: AwsQueryService,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const requestId = randomUUID();
  try {
    const raw = await readBody(req);
    const principal = service.authenticate ? await service.authenticate(req, raw) : undefined;
    const form = new URLSearchParams(raw.toString("utf8"));
    const action = form.get("Action") ?? "";
    const operation = Object.hasOwn(service.operations, action) ? service.operations[action] : undefined;
    if (!operation) {
      throw new AwsJsonError("InvalidAction", `Could not find operation ${action || "(none)"}`);
    }
    const output =
      (await operation(formToInput(form, service), principal === undefined ? {} : { principal })) ?? {};
    const result = Object.entries(output as Record<string, unknown>)
      .map(([k, v]) => toXml(v, k, service.timestampFields))
      .join("");
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${service.xmlns}">` +
      `<${action}Result>${result}</${action}Result>` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
    sendBody(res, 200, xml, { "content-type": "text/xml", "x-amzn-requestid": requestId });
  } catch (e) {
    const err = asAwsJsonError(e);
    const kind = err.status >= 500 ? "Receiver" : "Sender";
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${service.xmlns}"><Error><Type>${kind}</Type>` +
      `<Code>${escapeXml(err.type)}</Code><Message>${escapeXml(err.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`;
    sendBody(res, err.status, xml, { "content-type": "text/xml", "x-amzn-requestid": requestId });
  }
}
