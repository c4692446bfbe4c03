/**
 * The peer trigger (functions/host-failure/steps/trigger.ts `onPeerSilent`) against dynalite: a report of a
 * registered host starts its host-evacuation with the peers' last hearing and marks it down; a report of a
 * host in maintenance, of a host whose incident is open, of an unregistered host, or by the host itself,
 * starts nothing and changes nothing.
 */
import { describe, expect, it } from "vitest";
import { onPeerSilent } from "#functions/host-failure/steps/trigger.js";
import { PeerSilentEvent } from "#shared/domain/host-failure.js";
import type { HostIncident } from "#shared/domain/schemas.js";
import { hostFailureDeps } from "../../support/host-failure-deps.js";
import { type StepWorld, seedHosts, useStepHarness } from "../../support/step-harness.js";

const newWorld = useStepHarness();

function report(host: string, observer = "pt-obs") {
  return PeerSilentEvent.parse({
    source: "lazarus.host",
    "detail-type": "Lazarus Host Peer Silent",
    detail: {
      host,
      observer,
      lastHeardAt: new Date(Date.now() - 3000).toISOString(),
      silentSeconds: 3,
      hearing: 1,
    },
  });
}

function recordingDeps(w: StepWorld) {
  const { deps } = hostFailureDeps(w);
  const started: { machine: string; name: string; input: unknown }[] = [];
  deps.starter = {
    start: async (machine, name, input) => {
      started.push({ machine, name, input });
      return { started: true, executionArn: `${machine}:${name}` };
    },
  };
  return { deps, started };
}

describe("onPeerSilent", () => {
  it("starts the silent host's evacuation with the peers' last hearing, and marks it down", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "pt-1", pool: null }]);
    const { deps, started } = recordingDeps(w);
    const event = report("pt-1");
    const out = await onPeerSilent(deps, event);
    expect(out).toMatchObject({ action: "evacuate", host: "pt-1", started: true });
    expect(started).toEqual([
      {
        machine: "arn:evac",
        name: out.executionName,
        input: {
          host: "pt-1",
          incidentId: expect.stringMatching(/^peer-/),
          reason: expect.stringContaining("pt-obs has not heard pt-1"),
          silentSince: event.detail.lastHeardAt,
        },
      },
    ]);
    expect((await w.db.stores.hosts.require("pt-1")).status).toBe("down");
  });

  it("starts nothing for a host in maintenance, one with an open incident, an unregistered one, or a self-report", async () => {
    const w = await newWorld();
    const at = new Date().toISOString();
    const open: HostIncident = {
      id: "alarm-x",
      status: "evacuating",
      source: "alarm",
      reason: null,
      executionName: "e",
      openedAt: at,
      updatedAt: at,
      summary: null,
    };
    await seedHosts(w, [
      {
        name: "pt-m",
        pool: null,
        overrides: {
          maintenance: {
            state: "maintenance",
            reason: "disk swap",
            since: at,
            executionName: "drain-1",
            moved: [],
          },
        },
      },
      { name: "pt-o", pool: null, overrides: { incident: open } },
    ]);
    const { deps, started } = recordingDeps(w);
    const outs = [
      await onPeerSilent(deps, report("pt-m")),
      await onPeerSilent(deps, report("pt-o")),
      await onPeerSilent(deps, report("pt-none")),
      await onPeerSilent(deps, report("pt-o", "pt-o")),
    ];
    expect(outs.map((o) => o.action)).toEqual(["ignore", "ignore", "ignore", "ignore"]);
    expect(outs.map((o) => o.reason)).toEqual([
      expect.stringContaining("in maintenance"),
      expect.stringContaining("open incident (alarm-x)"),
      expect.stringContaining("not registered"),
      expect.stringContaining("reported itself"),
    ]);
    expect(started).toEqual([]);
    expect((await w.db.stores.hosts.require("pt-m")).status).toBe("up");
    expect((await w.db.stores.hosts.require("pt-o")).status).toBe("up");
  });
});
