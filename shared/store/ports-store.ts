/**
 * Neutron-like ports. `bind` moves a port's binding (binding:host_id) to a host, keeping its MAC.
 * A port without an instance is stored without `instanceUuid` (a GSI key cannot be NULL).
 */
import { Port } from "../domain/schemas.js";
import { ResourceName } from "../domain/values.js";
import { Expr, type Item, parseInput, type StoreDeps } from "./dynamo-util.js";
import { PortNotFound } from "./store-errors.js";
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

  async listByInstance(instanceUuid: string): Promise<Port[]> {
    const ports = await this.queryIndex(Port, "port", INDEX.portsByInstance, "instanceUuid", instanceUuid);
    return ports.sort((a, b) => a.id.localeCompare(b.id));
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
