/**
 * The host-failure incident on a host record (`Host.incident`). Opening one is a conditional write on the
 * version read, after `incidentDecision` allowed it: of any number of racing requests for one host (repeated
 * alarm deliveries, the monitor and an operator at once) exactly one opens the incident; the others read
 * it back and are duplicates. Every later change is conditional on the incident id, so a flow can only move
 * its own incident.
 */
import { ConcurrentUpdate } from "../domain/errors.js";
import { type IncidentDecision, incidentDecision } from "../domain/host-failure.js";
import { type Host, HostIncident, type HostIncidentStatus } from "../domain/schemas.js";
import { Expr, parseInput, type StoreDeps, updateExpression } from "./dynamo-util.js";
import { HOST_RECORDS, type ServicePatch, servicePatchTerms } from "./hosts-store.js";
import { RecordStore } from "./table-store.js";

export interface OpenIncidentResult {
  decision: IncidentDecision;
  host: Host;
}

export class HostIncidentsStore extends RecordStore<typeof Host> {
  constructor(deps: StoreDeps) {
    super(deps, "hosts", HOST_RECORDS);
  }

  /** Open `incident` on the host unless another one is open (duplicate) or it is already ours (resume). */
  async open(hostName: string, incident: HostIncident): Promise<OpenIncidentResult> {
    const wanted = parseInput(HostIncident, incident, "host incident");
    // The decision on the record the change ended with (re-made on every lost race).
    let decision: IncidentDecision = { kind: "open" };
    const host = await this.changeRecord(
      hostName,
      (current) => {
        decision = incidentDecision(current.incident, wanted.id);
        if (decision.kind !== "open") return null;
        const x = new Expr();
        const t = servicePatchTerms(x, current, {}, { incident: wanted });
        return {
          UpdateExpression: updateExpression(
            [`${x.name("incident")} = ${x.value(wanted)}`, ...t.sets],
            t.removes,
          ),
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      { host: hostName },
    );
    return { decision, host };
  }

  /**
   * Move our incident to `status` (with its summary) and change the host's service fields in the same
   * write. Conditional on the incident being ours (and on the record's version, so that the index attributes
   * written with it are the record's); repeating it is harmless.
   */
  async update(
    hostName: string,
    incidentId: string,
    status: HostIncidentStatus,
    opts: { summary?: Record<string, unknown>; service?: ServicePatch } = {},
  ): Promise<Host> {
    return this.changeRecord(
      hostName,
      (current) => {
        const actual = current.incident;
        if (actual?.id !== incidentId) {
          throw new ConcurrentUpdate(
            `host ${hostName} is in incident ${String(actual?.id)}, not ${incidentId}: not changing it`,
            { host: hostName, incidentId, actual: actual?.id ?? null },
          );
        }
        const incident: HostIncident = {
          ...actual,
          status,
          updatedAt: this.now().toISOString(),
          ...(opts.summary !== undefined ? { summary: opts.summary } : {}),
        };
        const x = new Expr();
        const t = servicePatchTerms(x, current, opts.service ?? {}, { incident });
        const sets = [
          `${x.path("incident", "status")} = ${x.value(incident.status)}`,
          `${x.path("incident", "updatedAt")} = ${x.value(incident.updatedAt)}`,
          ...t.sets,
        ];
        if (opts.summary !== undefined)
          sets.push(`${x.path("incident", "summary")} = ${x.value(opts.summary)}`);
        return {
          UpdateExpression: updateExpression(sets, t.removes),
          ConditionExpression: `${x.path("incident", "id")} = ${x.value(incidentId)} AND ${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      { host: hostName, incidentId },
    );
  }
}
