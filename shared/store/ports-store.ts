/**
 * Neutron-like ports. `bind` moves a port's binding (binding:host_id) to a host, keeping its MAC.
 * A port without an instance is stored without `instanceUuid` (a GSI key cannot be NULL).
 */
import { Port } from "../domain/schemas.js";
import { ResourceName } from "../domain/values.js";
import { Expr, type Item, parseInput, type StoreDeps, scanAll } from "./dynamo-util.js";
import { PortInUse, PortNotFound } from "./store-errors.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export class PortsStore extends RecordStore<typeof Port> {
  constructor(deps: StoreDeps) {
    super(deps, "ports", {
      schema: Port,
      what: "port",
      notFound: (id) => new PortNotFound(`Port ${id} could not be found.`, { portId: id }),
    });
  }

  /** A port without an instance has no `instanceUuid` attribute: the by-instance index cannot take null. */
  protected override toItem(port: Port): Item {
    const { instanceUuid, ...rest } = port;
    return instanceUuid === null ? rest : { ...rest, instanceUuid };
  }

  /** Every port (a consistent scan: audits and the invariant checker). */
  async list(): Promise<Port[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items.map((i) => this.parse(i));
  }

  async listByInstance(instanceUuid: string): Promise<Port[]> {
    const ports = await this.queryIndex(Port, "port", INDEX.portsByInstance, "instanceUuid", instanceUuid);
    return ports.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Give the port to an instance, bound to `host` (a port the caller named at boot: kept on delete).
   * Idempotent for the same instance; a port another instance holds is PortInUse.
   */
  async attachTo(portId: string, instanceUuid: string, host: string): Promise<Port> {
    const hostName = parseInput(ResourceName, host, "host name");
    return this.changeRecord(portId, (current) => {
      if (current.instanceUuid !== null && current.instanceUuid !== instanceUuid) {
        throw new PortInUse(`Port ${portId} is still in use by instance ${current.instanceUuid}.`, {
          portId,
          instanceUuid: current.instanceUuid,
        });
      }
      if (
        current.instanceUuid === instanceUuid &&
        current.bindingHost === hostName &&
        current.status === "ACTIVE"
      )
        return null;
      const x = new Expr();
      return {
        UpdateExpression: `SET ${x.name("instanceUuid")} = ${x.value(instanceUuid)}, ${x.name("bindingHost")} = ${x.value(hostName)}, ${x.name("status")} = ${x.value("ACTIVE")}, ${x.name("preserveOnDelete")} = ${x.value(true)}, ${x.name("version")} = ${x.value(current.version + 1)}`,
        ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
        ...x.attributes(),
      };
    });
  }

  /**
   * The instance is done with the port: a port it was given (preserveOnDelete) is unbound and left for
   * reuse; one made for it is deleted. A port it does not hold is left alone. Idempotent.
   */
  async releaseFrom(portId: string, instanceUuid: string): Promise<void> {
    const port = await this.get(portId);
    // Only a port this instance holds: one it never took (or gave back) is not its to release.
    if (!port || port.instanceUuid !== instanceUuid) return;
    if (!port.preserveOnDelete) {
      await this.deleteIf(portId, (current) => {
        if (current.instanceUuid !== null && current.instanceUuid !== instanceUuid)
          throw new PortInUse(`Port ${portId} was taken by instance ${current.instanceUuid}.`, { portId });
      });
      return;
    }
    await this.changeRecord(portId, (current) => {
      if (current.instanceUuid === null && current.bindingHost === null) return null;
      if (current.instanceUuid !== instanceUuid) return null;
      const x = new Expr();
      return {
        UpdateExpression: `SET ${x.name("bindingHost")} = ${x.value(null)}, ${x.name("status")} = ${x.value("DOWN")}, ${x.name("version")} = ${x.value(current.version + 1)} REMOVE ${x.name("instanceUuid")}`,
        ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
        ...x.attributes(),
      };
    });
  }

  /**
   * Bind the port to `host` (status ACTIVE; MAC, IPs and network unchanged). Idempotent: already
   * bound there and ACTIVE is a no-op. Written conditionally on the version read; a lost race is re-read and retried.
   */
  async bind(portId: string, host: string): Promise<Port> {
    const hostName = parseInput(ResourceName, host, "host name");
    return this.changeRecord(portId, (current) => {
      if (current.bindingHost === hostName && current.status === "ACTIVE") return null;
      const x = new Expr();
      return {
        UpdateExpression: `SET ${x.name("bindingHost")} = ${x.value(hostName)}, ${x.name("status")} = ${x.value("ACTIVE")}, ${x.name("version")} = ${x.value(current.version + 1)}`,
        ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
        ...x.attributes(),
      };
    });
  }
}
