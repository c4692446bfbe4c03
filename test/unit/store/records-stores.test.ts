import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PortsStore } from "#shared/store/ports-store.js";
import { PortNotFound, VolumeAttachRefused, VolumeNotFound } from "#shared/store/store-errors.js";
import { activeAttachment, VolumesStore } from "#shared/store/volumes-store.js";
import { readBarrier } from "../../support/doc-wrappers.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";
import { makeFault, makePort, makeVolume } from "../../support/fixtures.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "records" });
});
afterAll(() => db.close());

describe("FaultsStore", () => {
  it("records faults and lists them newest first, same-instant faults included", async () => {
    const { faults } = db.stores;
    const uuid = randomUUID();
    await faults.record(uuid, makeFault({ createdAt: "2026-01-01T00:00:00.000Z", step: "schedule" }));
    await faults.record(uuid, makeFault({ createdAt: "2026-01-03T00:00:00.000Z", step: "spawn" }));
    await faults.record(uuid, makeFault({ createdAt: "2026-01-03T00:00:00.000Z", step: "spawn-2" }));
    const recorded = await db
      .storesWith({ now: () => new Date("2026-01-02T00:00:00.000Z") })
      .faults.record(uuid, { code: 400, error: "NoValidHost", message: "none", step: "claim" });
    expect(recorded).toMatchObject({ createdAt: "2026-01-02T00:00:00.000Z", details: {} });
    const list = await faults.list(uuid);
    expect(list.map((f) => f.createdAt)).toEqual([
      "2026-01-03T00:00:00.000Z",
      "2026-01-03T00:00:00.000Z",
      "2026-01-02T00:00:00.000Z",
      "2026-01-01T00:00:00.000Z",
    ]);
    expect(list[3]).toEqual(makeFault({ createdAt: "2026-01-01T00:00:00.000Z", step: "schedule" }));
    expect(await faults.list(randomUUID())).toEqual([]);
  });
});

describe("PortsStore", () => {
  it("puts, lists by instance, and keeps ports without an instance", async () => {
    const { ports } = db.stores;
    const instanceUuid = randomUUID();
    const a = await ports.put(makePort({ instanceUuid }));
    const b = await ports.put(makePort({ instanceUuid }));
    const free = await ports.put(makePort({ instanceUuid: null }));
    expect(await ports.get(free.id)).toEqual(free);
    expect((await ports.listByInstance(instanceUuid)).map((p) => p.id).sort()).toEqual([a.id, b.id].sort());
    await expect(ports.require(randomUUID())).rejects.toBeInstanceOf(PortNotFound);
  });

  it("bind moves the binding, keeps the MAC, and is idempotent (also when racing)", async () => {
    const { ports } = db.stores;
    const port = await ports.put(
      makePort({ instanceUuid: randomUUID(), bindingHost: "dead-host", status: "DOWN" }),
    );
    const racing = new PortsStore({ doc: readBarrier(db.doc, 3), tables: db.tables });
    const results = await Promise.all([1, 2, 3].map(() => racing.bind(port.id, "new-host")));
    for (const r of results)
      expect(r).toMatchObject({ bindingHost: "new-host", status: "ACTIVE", mac: port.mac });
    const stored = await ports.require(port.id);
    expect(stored).toEqual({ ...port, bindingHost: "new-host", status: "ACTIVE", version: 1 });
    expect(await ports.bind(port.id, "new-host")).toEqual(stored);
    await expect(ports.bind(randomUUID(), "x")).rejects.toBeInstanceOf(PortNotFound);
  });
});

describe("VolumesStore", () => {
  const at = (instanceUuid: string, host: string, attachmentId = randomUUID()) => ({
    attachmentId,
    instanceUuid,
    host,
    device: "vdb",
  });

  it("attach is idempotent by attachment id and refuses a second instance", async () => {
    const { volumes } = db.stores;
    const vol = await volumes.put(makeVolume());
    const vm = randomUUID();
    const req = at(vm, "host-a");
    const attached = await volumes.attach(vol.id, req);
    expect(attached.status).toBe("in-use");
    expect(activeAttachment(attached)).toMatchObject({ ...req, status: "attached", detachedAt: null });
    expect(await volumes.attach(vol.id, req)).toEqual(attached);
    const e = await volumes.attach(vol.id, at(randomUUID(), "host-b")).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VolumeAttachRefused);
    expect((e as VolumeAttachRefused).details).toMatchObject({ attachedTo: vm, host: "host-a" });
    await expect(volumes.attach(vol.id, { ...req, host: "host-z" })).rejects.toBeInstanceOf(
      VolumeAttachRefused,
    );
    await expect(volumes.attach(randomUUID(), req)).rejects.toBeInstanceOf(VolumeNotFound);
  });

  it("racing attaches of two instances: exactly one wins", async () => {
    const vol = await db.stores.volumes.put(makeVolume());
    const volumes = new VolumesStore({ doc: readBarrier(db.doc, 2), tables: db.tables });
    const results = await Promise.allSettled([
      volumes.attach(vol.id, at(randomUUID(), "host-a")),
      volumes.attach(vol.id, at(randomUUID(), "host-b")),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected");
    expect(lost?.status === "rejected" && lost.reason).toBeInstanceOf(VolumeAttachRefused);
    expect((await db.stores.volumes.require(vol.id)).attachments).toHaveLength(1);
  });

  it("detach is idempotent and frees the volume", async () => {
    const { volumes } = db.stores;
    const vol = await volumes.put(makeVolume());
    const req = at(randomUUID(), "host-a");
    await volumes.attach(vol.id, req);
    const detached = await volumes.detach(vol.id, req.attachmentId);
    expect(detached.status).toBe("available");
    expect(detached.attachments[0]).toMatchObject({ status: "detached" });
    expect(detached.attachments[0]?.detachedAt).not.toBeNull();
    expect(activeAttachment(detached)).toBeNull();
    expect(await volumes.detach(vol.id, req.attachmentId)).toEqual(detached);
    expect(await volumes.detach(vol.id, randomUUID())).toEqual(detached);
    // A detached attachment id is not reused.
    await expect(volumes.attach(vol.id, req)).rejects.toBeInstanceOf(VolumeAttachRefused);
  });

  it("endAttachments ends the dead host's attachments so the instance can attach on the new host", async () => {
    const { volumes } = db.stores;
    const vm = randomUUID();
    const vol = await volumes.put(makeVolume());
    await volumes.attach(vol.id, at(vm, "dead-host"));
    const onNew = at(vm, "new-host");
    // Evacuation order: attach on the target, then end everything else of this instance.
    await volumes.attach(vol.id, onNew);
    const ended = await volumes.endAttachments(vol.id, { instanceUuid: vm, exceptHost: "new-host" });
    expect(ended.attachments.map((a) => [a.host, a.status])).toEqual([
      ["dead-host", "detached"],
      ["new-host", "attached"],
    ]);
    expect(activeAttachment(ended)?.attachmentId).toBe(onNew.attachmentId);
    expect(ended.status).toBe("in-use");
    expect(await volumes.endAttachments(vol.id, { instanceUuid: vm, exceptHost: "new-host" })).toEqual(ended);
    const all = await volumes.endAttachments(vol.id, { instanceUuid: vm });
    expect(all.status).toBe("available");
    expect(volumes.activeAttachment(all)).toBeNull();
  });
});
