/**
 * A host's planned maintenance on its record (`Host.maintenance`, issue 32). Each change is one
 * conditional write on the version read, decided by shared/domain/maintenance.ts: a drain begins (the host
 * disabled, `draining`) only when no other drain runs and the host is not failing; it ends (`maintenance`
 * or `incomplete`) only if it is still the drain that began; an undrain (the host enabled again, the
 * maintenance cleared) only once no drain runs.
 */
import { HostMaintenanceConflict } from "../domain/errors.js";
import { beginDrain, drainDecision, maintenanceReason, undrainRefusal } from "../domain/maintenance.js";
import type { Host, HostMaintenance } from "../domain/schemas.js";
import { Expr, type StoreDeps } from "./dynamo-util.js";
import { HOST_RECORDS } from "./hosts-store.js";
import { type ConditionalUpdate, RecordStore } from "./table-store.js";

function setMaintenance(
  current: Host,
  maintenance: HostMaintenance | null,
  service: { enabled: boolean; disabledReason: string | null },
): ConditionalUpdate<Host> {
  const x = new Expr();
  return {
    UpdateExpression: `SET ${x.name("maintenance")} = ${x.value(maintenance)}, ${x.name("enabled")} = ${x.value(service.enabled)}, ${x.name("disabledReason")} = ${x.value(service.disabledReason)}, ${x.name("version")} = ${x.name("version")} + ${x.value(1)}`,
    ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
    ...x.attributes(),
  };
}

export class HostMaintenanceStore extends RecordStore<typeof Host> {
  constructor(deps: StoreDeps) {
    super(deps, "hosts", HOST_RECORDS);
  }

  /** The drain `executionName` takes the host: disabled, `draining`. HostMaintenanceConflict when refused. */
  async beginDrain(name: string, d: { executionName: string; reason: string | null }): Promise<Host> {
    return this.changeRecord(
      name,
      (current) => {
        const decision = drainDecision(current, d.executionName);
        if (decision.kind === "refuse") {
          throw new HostMaintenanceConflict(decision.reason, { host: name });
        }
        if (decision.kind === "resume") return null;
        const maintenance = beginDrain(current, { ...d, at: this.now().toISOString() });
        return setMaintenance(current, maintenance, {
          enabled: false,
          disabledReason: maintenanceReason(d.reason),
        });
      },
      { host: name },
    );
  }

  /**
   * The drain `executionName` ends: the host stays disabled in `state`, with the instances it moved added to
   * those a return brings back. Nothing is written when another drain or an undrain took over meanwhile.
   */
  async endDrain(
    name: string,
    executionName: string,
    end: { state: HostMaintenance["state"]; moved: readonly string[] },
  ): Promise<Host> {
    return this.changeRecord(
      name,
      (current) => {
        const m = current.maintenance;
        if (m?.executionName !== executionName) return null;
        const moved = [...new Set([...m.moved, ...end.moved])];
        if (m.state === end.state && moved.length === m.moved.length) return null;
        return setMaintenance(
          current,
          { ...m, state: end.state, moved },
          { enabled: current.enabled, disabledReason: current.disabledReason },
        );
      },
      { host: name, executionName },
    );
  }

  /**
   * Undrain: the host enabled again and its maintenance cleared. Returns the record as it was before (its
   * `maintenance.moved`: what a return brings back) and after. HostMaintenanceConflict when refused.
   */
  async undrain(name: string): Promise<{ before: Host; after: Host }> {
    let before: Host | undefined;
    const after = await this.changeRecord(
      name,
      (current) => {
        before = current;
        const refusal = undrainRefusal(current);
        if (refusal) throw new HostMaintenanceConflict(refusal, { host: name });
        return setMaintenance(current, null, { enabled: true, disabledReason: null });
      },
      { host: name },
    );
    return { before: before!, after };
  }
}
