/**
 * Neutron-like ports. `bind` moves a port's binding (binding:host_id) to a host, keeping its MAC.
 * A port without an instance is stored without `instanceUuid` (a GSI key cannot be NULL).
 */
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { Port } from "../domain/schemas.js";
import { ResourceName } from "../domain/values.js";
import { Expr, type Item, parseInput, parseStored, type StoreDeps } from "./dynamo-util.js";
import { PortNotFound } from "./store-errors.js";
import { TableStore } from "./table-store.js";
import { INDEX } from "./tables.js";

function toItem(port: Port): Item {
  const { instanceUuid, ...rest } = port;
  return instanceUuid === null ? rest : { ...rest, instanceUuid };
}

export class PortsStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "ports");
  }

  /** Create or replace a port record as given. */
  async put(port: Port): Promise<Port> {
    const record = parseInput(Port, port, "port");
    await this.doc.send(new PutCommand({ TableName: this.table, Item: toItem(record) }));
    return record;
  }

  get(id: string): Promise<Port | null> {
    return this.getParsed(Port, id, "port");
  }

  require(id: string): Promise<Port> {
    return this.requireParsed(
      Port,
      id,
      "port",
      () => new PortNotFound(`Port ${id} could not be found.`, { portId: id }),
    );
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
    return this.change({
      key: portId,
      what: `port ${portId}`,
      current: await this.require(portId),
      parse: (item) => parseStored(Port, item, "port"),
      notFound: () => new PortNotFound(`Port ${portId} could not be found.`, { portId }),
      decide: (current) => {
        if (current.bindingHost === hostName && current.status === "ACTIVE") return null;
        const x = new Expr();
        return {
          UpdateExpression: `SET ${x.name("bindingHost")} = ${x.value(hostName)}, ${x.name("status")} = ${x.value("ACTIVE")}, ${x.name("version")} = ${x.value(current.version + 1)}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
    });
  }
}
