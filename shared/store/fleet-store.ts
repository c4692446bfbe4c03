/**
 * Facts about the fleet as a whole, one small item each (table `fleet`, key set + member), so that no reader
 * needs the whole hosts table for them:
 *  - the number of registered hosts (`counter/hosts`), moved by the hosts store when a host item is created
 *    or deleted: the mass-failure guard's denominator;
 *  - which hosts reach each BMC network (`bmc-network#<net>/<host>`), kept by the hosts store from each
 *    host's `fencing.bmcNetworks`: the fence's delegates are read from it, in host-name order;
 *  - where a job that walks the hosts table a page per run stopped (`cursor/<job>`): the fleet sync;
 *  - the availability zones hosts were registered in (`zone/<zone>`): a boot that asks for no zone reads
 *    the scheduler's index of each (a zone once known stays listed: an empty one costs one empty query).
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type Item, queryAll, type StoreDeps } from "./dynamo-util.js";
import { TableStore } from "./table-store.js";

const COUNTER = "counter";
const CURSOR = "cursor";
const ZONE = "zone";
const bmcSet = (network: string) => `bmc-network#${network}`;

export class FleetStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "fleet");
  }

  /** Registered hosts (0 before the first). A consistent read of one item. */
  async hostCount(): Promise<number> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { set: COUNTER, member: "hosts" }, ConsistentRead: true }),
    );
    return typeof out.Item?.value === "number" ? out.Item.value : 0;
  }

  /** Moves the host count by `delta` (atomic ADD). */
  async addHosts(delta: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { set: COUNTER, member: "hosts" },
        UpdateExpression: "ADD #v :d",
        ExpressionAttributeNames: { "#v": "value" },
        ExpressionAttributeValues: { ":d": delta },
      }),
    );
  }

  /** Records that hosts are registered in `zone` (idempotent). */
  async noteZone(zone: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { set: ZONE, member: zone } }));
  }

  /** Every zone hosts were registered in, by name (one query, one item per zone). */
  async zones(): Promise<string[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: "#s = :s",
      ExpressionAttributeNames: { "#s": "set" },
      ExpressionAttributeValues: { ":s": ZONE },
    });
    return items.map((i) => String(i.member));
  }

  /** Makes `host` a member of exactly the BMC networks `after` (was `before`). Idempotent. */
  async setBmcNetworks(host: string, before: readonly string[], after: readonly string[]): Promise<void> {
    for (const net of after)
      if (!before.includes(net))
        await this.doc.send(
          new PutCommand({ TableName: this.table, Item: { set: bmcSet(net), member: host } }),
        );
    for (const net of before)
      if (!after.includes(net))
        await this.doc.send(
          new DeleteCommand({ TableName: this.table, Key: { set: bmcSet(net), member: host } }),
        );
  }

  /**
   * Hosts that reach BMC network `network`, by name, at most `limit`, after host `after` (a page). Eventually
   * consistent in AWS as any list: the caller re-reads each host by key before it relies on it.
   */
  async bmcNetworkMembers(
    network: string,
    opts: { limit: number; after?: string },
  ): Promise<{ hosts: string[]; more: boolean }> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: opts.after ? "#s = :s AND #m > :a" : "#s = :s",
        ExpressionAttributeNames: { "#s": "set", ...(opts.after ? { "#m": "member" } : {}) },
        ExpressionAttributeValues: { ":s": bmcSet(network), ...(opts.after ? { ":a": opts.after } : {}) },
        Limit: opts.limit,
      }),
    );
    return {
      hosts: (out.Items ?? []).map((i) => String(i.member)),
      more: out.LastEvaluatedKey !== undefined,
    };
  }

  /** Where the job stopped last (an opaque key), or undefined: start from the beginning. */
  async cursor(job: string): Promise<Item | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { set: CURSOR, member: job }, ConsistentRead: true }),
    );
    return (out.Item?.at as Item | undefined) ?? undefined;
  }

  /** Records where the job stopped (undefined: it reached the end; the next run starts again). */
  async setCursor(job: string, at: Item | undefined): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { set: CURSOR, member: job, ...(at ? { at } : {}) },
      }),
    );
  }
}
