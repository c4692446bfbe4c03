/**
 * The power fence's local stand-in: an EC2-compatible HTTP endpoint (the EC2 Query protocol: form-encoded
 * `Action=...`, XML answers) with `StopInstances`, `StartInstances` and `DescribeInstances`, for the
 * instances it is told about. Starting a stopped instance runs its `powerOn` (the local cloud: libvirtd and
 * the agent back, nothing autostarted); it is `pending` until that returns. Code using the real `@aws-sdk/client-ec2` with `AWS_ENDPOINT_URL_EC2` set to `url` fences here
 * exactly as it would an EC2 bare-metal host in AWS. Stopping an instance runs its `powerOff` (the local
 * cloud: the host's every process, qemu included, SIGKILLed: a power cut); the instance is `stopping`
 * until that returns. Otherwise its state is read from the machine itself (`isOn`): a local host killed or
 * restarted by a test is `stopped` or `running` here too, so the fence never reports off a host that runs.
 *
 * Fault switch (`setFault`), a real failure at the protocol boundary: `fail` answers StopInstances with an
 * EC2 error (the power controller refused); `hang` accepts the stop and never carries it out (the instance
 * stays `stopping`, as a stop stuck in EC2 or a BMC that does not answer): the fence times out.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { closeServer, listenOnLoopback } from "../http/loopback.js";

export type Ec2InstanceState = "pending" | "running" | "stopping" | "stopped";
const STATE_CODES: Record<Ec2InstanceState, number> = { pending: 0, running: 16, stopping: 64, stopped: 80 };

/** What the endpoint switches: the machine behind an instance id. */
export interface Ec2Machine {
  powerOff: () => Promise<void>;
  powerOn: () => Promise<void>;
  isOn: () => boolean;
}

export type Ec2Fault = { mode: "fail"; message?: string } | { mode: "hang" } | null;

export interface Ec2Endpoint {
  url: string;
  /** An instance the endpoint answers for: what a stop and a start do, and whether it runs. */
  addInstance(instanceId: string, machine: Ec2Machine): void;
  state(instanceId: string): Ec2InstanceState | undefined;
  setFault(fault: Ec2Fault): void;
  /** Every StopInstances received: instance ids and whether Force was set. */
  stops: { instanceIds: string[]; force: boolean; at: Date }[];
  /** Every StartInstances received. */
  starts: { instanceIds: string[]; at: Date }[];
  close(): Promise<void>;
}

const XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/";

function xmlText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function replyXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "content-type": "text/xml;charset=UTF-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function replyError(res: ServerResponse, status: number, code: string, message: string): void {
  replyXml(
    res,
    status,
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlText(code)}</Code><Message>${xmlText(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** `InstanceId.1=a&InstanceId.2=b` -> [a, b] */
function listParam(params: URLSearchParams, name: string): string[] {
  const out: [number, string][] = [];
  for (const [k, v] of params) {
    const m = new RegExp(`^${name}\\.(\\d+)$`).exec(k);
    if (m) out.push([Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

export async function startEc2Endpoint(options: { port?: number } = {}): Promise<Ec2Endpoint> {
  const instances = new Map<string, Ec2Machine & { stopping: boolean; starting: boolean }>();
  const stateOf = (id: string): Ec2InstanceState => {
    const inst = instances.get(id)!;
    if (inst.stopping) return "stopping";
    if (inst.starting) return "pending";
    return inst.isOn() ? "running" : "stopped";
  };
  let fault: Ec2Fault = null;
  const stops: Ec2Endpoint["stops"] = [];
  const starts: Ec2Endpoint["starts"] = [];

  const stateXml = (tag: string, s: Ec2InstanceState) =>
    `<${tag}><code>${STATE_CODES[s]}</code><name>${s}</name></${tag}>`;

  const server = createServer((req, res) => {
    void (async () => {
      const params = new URLSearchParams(await readBody(req));
      const action = params.get("Action");
      const ids = listParam(params, "InstanceId");
      const unknown = ids.filter((id) => !instances.has(id));
      // EC2's answer to an id it does not know, in either action.
      const notFound = () =>
        replyError(
          res,
          400,
          "InvalidInstanceID.NotFound",
          `The instance IDs '${unknown.join(", ")}' do not exist`,
        );
      if (action === "StopInstances") {
        if (ids.length === 0) return replyError(res, 400, "MissingParameter", "InstanceId is required");
        if (unknown.length) return notFound();
        stops.push({ instanceIds: ids, force: params.get("Force") === "true", at: new Date() });
        if (fault?.mode === "fail")
          return replyError(
            res,
            400,
            "IncorrectInstanceState",
            fault.message ?? "injected: the stop was refused",
          );
        const items = ids.map((id) => {
          const inst = instances.get(id)!;
          const previous = stateOf(id);
          if (previous === "running") {
            inst.stopping = true;
            // hang: accepted, never carried out (the instance stays "stopping"; the fence times out).
            if (fault?.mode !== "hang") {
              void inst.powerOff().then(
                () => {
                  inst.stopping = false;
                },
                () => {
                  // The power-off failed: the instance stays "stopping"; the fence times out.
                },
              );
            }
          }
          return `<item><instanceId>${xmlText(id)}</instanceId>${stateXml("currentState", stateOf(id))}${stateXml("previousState", previous)}</item>`;
        });
        return replyXml(
          res,
          200,
          `<?xml version="1.0" encoding="UTF-8"?>\n<StopInstancesResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><instancesSet>${items.join("")}</instancesSet></StopInstancesResponse>`,
        );
      }
      if (action === "StartInstances") {
        if (ids.length === 0) return replyError(res, 400, "MissingParameter", "InstanceId is required");
        if (unknown.length) return notFound();
        const busy = ids.filter((id) => stateOf(id) === "stopping");
        if (busy.length)
          return replyError(
            res,
            400,
            "IncorrectInstanceState",
            `The instance '${busy[0]}' is not in a state from which it can be started.`,
          );
        starts.push({ instanceIds: ids, at: new Date() });
        const items = ids.map((id) => {
          const inst = instances.get(id)!;
          const previous = stateOf(id);
          if (previous === "stopped") {
            inst.starting = true;
            void inst.powerOn().then(
              () => {
                inst.starting = false;
              },
              () => {
                // The machine did not come back: it reads stopped again.
                inst.starting = false;
              },
            );
          }
          return `<item><instanceId>${xmlText(id)}</instanceId>${stateXml("currentState", stateOf(id))}${stateXml("previousState", previous)}</item>`;
        });
        return replyXml(
          res,
          200,
          `<?xml version="1.0" encoding="UTF-8"?>\n<StartInstancesResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><instancesSet>${items.join("")}</instancesSet></StartInstancesResponse>`,
        );
      }
      if (action === "DescribeInstances") {
        const chosen = ids.length ? ids.filter((id) => instances.has(id)) : [...instances.keys()];
        if (unknown.length) return notFound();
        const items = chosen
          .map(
            (id) =>
              `<item><instanceId>${xmlText(id)}</instanceId>${stateXml("instanceState", stateOf(id))}</item>`,
          )
          .join("");
        const reservations = chosen.length
          ? `<item><reservationId>r-local</reservationId><ownerId>000000000000</ownerId><instancesSet>${items}</instancesSet></item>`
          : "";
        return replyXml(
          res,
          200,
          `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><reservationSet>${reservations}</reservationSet></DescribeInstancesResponse>`,
        );
      }
      return replyError(
        res,
        400,
        "InvalidAction",
        `The action ${action ?? "(none)"} is not valid for this web service.`,
      );
    })().catch((e: unknown) => {
      if (!res.headersSent) replyError(res, 500, "InternalError", String(e));
    });
  });
  const { url } = await listenOnLoopback(server, options.port ?? 0);
  return {
    url,
    stops,
    starts,
    addInstance(instanceId, machine) {
      instances.set(instanceId, { ...machine, stopping: false, starting: false });
    },
    state: (instanceId) => (instances.has(instanceId) ? stateOf(instanceId) : undefined),
    setFault(f) {
      fault = f;
      // Clearing the fault ends a hung stop: the next StopInstances carries it out.
      if (f === null)
        for (const inst of instances.values()) if (inst.stopping && inst.isOn()) inst.stopping = false;
    },
    close: () => closeServer(server),
  };
}
