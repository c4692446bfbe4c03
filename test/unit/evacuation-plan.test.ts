/** Capacity for a failure (shared/domain/evacuation-plan.ts): the scheduler's own decisions, read-only. */
import { describe, expect, it } from "vitest";
import {
  checkFleetCapacity,
  placePlan,
  previewHostEvacuation,
  withClaim,
} from "#shared/domain/evacuation-plan.js";
import { planEvacuation } from "#shared/domain/host-failure.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import { makeHost, makeInstance } from "../support/fixtures.js";

const NOW = new Date("2026-01-01T00:00:10.000Z");
const mem = (memoryMiB: number) => ({ vcpus: 1, memoryMiB, diskGiB: 1 });

function fleet(instances: Instance[], hosts: Host[]): Host[] {
  return hosts.map((h) =>
    instances
      .filter((i) => i.host === h.name)
      .reduce((acc, i) => withClaim(acc, i, `boot-${i.name}`, NOW), h),
  );
}

describe("evacuation plan", () => {
  const hosts = [
    makeHost({ name: "h1", capacity: { vcpus: 8, memoryMiB: 8192, diskGiB: 100 } }),
    makeHost({ name: "h2", capacity: { vcpus: 8, memoryMiB: 4096, diskGiB: 100 } }),
    makeHost({ name: "h3", capacity: { vcpus: 8, memoryMiB: 4096, diskGiB: 100 } }),
  ];
  const big = makeInstance({ name: "big", host: "h1", flavor: mem(5000), haPriority: 0 });
  const db = makeInstance({ name: "db", host: "h1", flavor: mem(3000), haPriority: 10 });
  const web = makeInstance({ name: "web", host: "h1", flavor: mem(2000) });
  const other = makeInstance({ name: "other", host: "h2", flavor: mem(1000) });
  const all = [big, db, web, other];

  it("places the flow's own plan (its plannedHost per child) as the preview does; a later round's plan only its items", () => {
    const records = [big, db, web];
    const preview = previewHostEvacuation("h1", fleet(all, hosts), records, { policy: "all", now: NOW });
    const plan = planEvacuation("h1", "incident-1", records, "all");
    expect(placePlan("h1", fleet(all, hosts), plan, records, { now: NOW }).placements).toEqual(
      preview.placements,
    );
    // A proof round plans only the instances still waiting: web alone now finds h3, the emptiest.
    const round = planEvacuation("h1", "incident-1/proof-round-2", [web], "all");
    expect(placePlan("h1", fleet(all, hosts), round, [web], { now: NOW }).placements).toEqual([
      { instanceUuid: web.uuid, name: "web", haPriority: web.haPriority, target: "h3" },
    ]);
  });

  it("places a host's instances in the flow's order, each seeing the earlier placements, and names what does not fit", () => {
    const p = previewHostEvacuation("h1", fleet(all, hosts), [big, db, web], { policy: "all", now: NOW });
    // db (priority 10) first: h3 has the most free RAM; web then goes to h2 (h3 has 1096 MiB left).
    expect(p.placements.map((x) => [x.name, x.target])).toEqual([
      ["db", "h3"],
      ["web", "h2"],
    ]);
    expect(p.unplaced.map((u) => u.name)).toEqual(["big"]);
    expect(p.unplaced[0]!.reason).toMatch(/h2: ResourceFilter: RAM free .* < 5000/);
  });

  it("the fleet check names the single-host failures the fleet cannot absorb", () => {
    const check = checkFleetCapacity(fleet(all, hosts), all, { policy: "all", now: NOW });
    expect(check.checkedHosts.sort()).toEqual(["h1", "h2"]);
    expect(check.notAbsorbable.map((n) => n.host)).toEqual(["h1"]);
  });

  it("an anti-affinity member never goes where its peer runs", () => {
    const g = { id: "g1", policy: "anti-affinity" as const };
    const a = makeInstance({ name: "a", host: "h1", flavor: mem(500), serverGroup: g });
    const b = makeInstance({ name: "b", host: "h3", flavor: mem(500), serverGroup: g });
    const records = fleet([a, b], hosts).map((h) =>
      h.name === "h3" ? { ...h, antiAffinity: { g1: b.uuid } } : h,
    );
    const p = previewHostEvacuation("h1", records, [a], { policy: "all", now: NOW });
    expect(p.placements.map((x) => x.target)).toEqual(["h2"]);
  });
});
