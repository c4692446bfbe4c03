/**
 * The chaos run's "nothing stranded" invariant (local/invariants.ts): while a host's evacuation has ended
 * (incident `evacuated`) every record still naming the host must be in its report's not-evacuated list. Run
 * against dynalite with no running hypervisor (the records alone decide this rule).
 */
import { describe, expect, it } from "vitest";
import { checkInvariants, violationKind } from "#local/invariants.js";
import type { HostIncident } from "#shared/domain/schemas.js";
import { seedHosts, seedInstance, useStepHarness } from "../../support/step-harness.js";

const newWorld = useStepHarness();

function evacuated(notEvacuated: string[] | undefined): HostIncident {
  const at = new Date().toISOString();
  return {
    id: "alarm-x",
    status: "evacuated",
    source: "alarm",
    reason: null,
    executionName: "evac-x",
    openedAt: at,
    updatedAt: at,
    summary: notEvacuated === undefined ? null : { evacuated: 1, notEvacuated },
  };
}

const stranded = async (w: Awaited<ReturnType<typeof newWorld>>) =>
  (await checkInvariants(w.db.stores, new Map())).filter((v) => violationKind(v) === "stranded");

describe("nothing stranded", () => {
  it("a record left on a host whose evacuation ended without listing it is stranded; one listed is not", async () => {
    const w = await newWorld();
    await seedHosts(w, [
      { name: "host-1", down: true, overrides: { incident: evacuated(["web-2: busy"]) } },
      { name: "host-2" },
    ]);
    await seedInstance(w, "host-1", { name: "web-1", vmState: "active" });
    await seedInstance(w, "host-1", { name: "web-2", vmState: "active" });
    await seedInstance(w, "host-2", { name: "web-3", vmState: "active" });
    expect(await stranded(w)).toEqual([
      `stranded: web-1 (active) still on host-1, whose evacuation alarm-x ended without listing it as not evacuated`,
    ]);
    // Listed (the execution then failed HostEvacuationIncomplete): not stranded.
    await w.db.stores.hosts.put({
      ...(await w.db.stores.hosts.require("host-1")),
      incident: evacuated(["web-1: not-planned", "web-2: busy"]),
    });
    expect(await stranded(w)).toEqual([]);
  });

  it("only while the evacuation has ended: an open or closed incident is not judged here", async () => {
    const w = await newWorld();
    await seedHosts(w, [
      { name: "host-1", down: true, overrides: { incident: { ...evacuated([]), status: "closed" } } },
    ]);
    await seedInstance(w, "host-1", { name: "web-1", vmState: "active" });
    expect(await stranded(w)).toEqual([]);
  });
});
