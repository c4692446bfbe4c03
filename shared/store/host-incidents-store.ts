/**
 * The host-failure incident on a host record (`Host.incident`). Opening one is a conditional write on the
 * version read, after `incidentDecision` allowed it: of any number of racing requests for one host (repeated
 * alarm deliveries, the monitor and an operator at once) exactly one opens the incident; the others read
 * it back and are duplicates. Every later change is conditional on the incident id, so a flow can only move
 * its own incident.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { ConcurrentUpdate, HostNotFound } from "../domain/errors.js";
import { type IncidentDecision, incidentDecision } from "../domain/host-failure.js";
import { Host, HostIncident, type HostIncidentStatus } from "../domain/schemas.js";
import {
  Expr,
  isConditionalCheckFailed,
  itemAtFailure,
  MAX_WRITE_ATTEMPTS,
  parseInput,
  parseStored,
  type StoreDeps,
} from "./dynamo-util.js";
import { type ServicePatch, ServicePatch as ServicePatchSchema } from "./hosts-store.js";
import { TableStore } from "./table-store.js";

export interface OpenIncidentResult {
  decision: IncidentDecision;
  host: Host;
}

export class HostIncidentsStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "hosts");
  }

  private require(name: string): Promise<Host> {
    return this.requireParsed(
      Host,
      name,
      "host",
      () => new HostNotFound(`Compute host ${name} not found.`, { host: name }),
    );
  }

  /** Open `incident` on the host unless another one is open (duplicate) or it is already ours (resume). */
  async open(hostName: string, incident: HostIncident): Promise<OpenIncidentResult> {
    const wanted = parseInput(HostIncident, incident, "host incident");
    let host = await this.require(hostName);
    for (let attempt = 1; ; attempt++) {
      const decision = incidentDecision(host.incident, wanted.id);
      if (decision.kind !== "open") return { decision, host };
      if (attempt > MAX_WRITE_ATTEMPTS) {
        throw new ConcurrentUpdate(`host ${hostName} kept changing; incident not opened`, { host: hostName });
      }
      const x = new Expr();
      try {
        const out = await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.keyOf(hostName),
            UpdateExpression: `SET ${x.name("incident")} = ${x.value(wanted)}, ${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
            ConditionExpression: `${x.name("version")} = ${x.value(host.version)}`,
            ...x.attributes(),
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return { decision, host: parseStored(Host, out.Attributes ?? {}, "host") };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(hostName));
        if (!old) throw new HostNotFound(`Compute host ${hostName} not found.`, { host: hostName });
        host = parseStored(Host, old, "host");
      }
    }
  }

  /**
   * Move our incident to `status` (with its summary) and change the host's service fields in the same
   * write. Conditional on the incident being ours; repeating it is harmless.
   */
  async update(
    hostName: string,
    incidentId: string,
    status: HostIncidentStatus,
    opts: { summary?: Record<string, unknown>; service?: ServicePatch } = {},
  ): Promise<Host> {
    const service = Object.entries(
      parseInput(ServicePatchSchema, opts.service ?? {}, "service patch"),
    ).filter(([, v]) => v !== undefined);
    const x = new Expr();
    const sets = [
      `${x.path("incident", "status")} = ${x.value(status)}`,
      `${x.path("incident", "updatedAt")} = ${x.value(this.now().toISOString())}`,
      `${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
      ...service.map(([k, v]) => `${x.name(k)} = ${x.value(v)}`),
    ];
    if (opts.summary !== undefined) sets.push(`${x.path("incident", "summary")} = ${x.value(opts.summary)}`);
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.keyOf(hostName),
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: `${x.path("incident", "id")} = ${x.value(incidentId)}`,
          ...x.attributes(),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return parseStored(Host, out.Attributes ?? {}, "host");
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
      const old = await itemAtFailure(e, () => this.read(hostName));
      if (!old) throw new HostNotFound(`Compute host ${hostName} not found.`, { host: hostName });
      const actual = parseStored(Host, old, "host").incident;
      throw new ConcurrentUpdate(
        `host ${hostName} is in incident ${String(actual?.id)}, not ${incidentId}: not changing it`,
        { host: hostName, incidentId, actual: actual?.id ?? null },
      );
    }
  }
}
