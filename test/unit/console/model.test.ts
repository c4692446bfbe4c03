/**
 * What the console derives from the API's answers (console/src/model.ts): the work waiting for a person
 * and the action that resolves each, the instances' order ("fencing required" and ERROR first), a host's
 * state words, whether the fleet absorbs losing it, and each instance's last action.
 */
import { describe, expect, it } from "vitest";
import {
  absorbable,
  type HostView,
  hostStatus,
  type IncidentSummary,
  lastActions,
  type MigrationView,
  proofsAvailable,
  type ServerView,
  sortInstances,
  workItems,
} from "../../../console/src/model.js";

function host(name: string, over: Partial<HostView> = {}): HostView {
  const r = { vcpus: 0, memory_mb: 0, disk_gb: 0 };
  return {
    host_name: name,
    zone: "az1",
    enabled: true,
    disabled_reason: null,
    forced_down: false,
    state: "up",
    last_heartbeat_at: null,
    shared_pool: null,
    capacity: r,
    limits: r,
    usage: r,
    instances: 0,
    fencing: { power: "ipmi", watchdog: false, disk_locks: true },
    incident: null,
    ...over,
  };
}

function server(name: string, over: Partial<ServerView> = {}): ServerView {
  return {
    id: `${name}-id`,
    name,
    status: "ACTIVE",
    image: { id: "cirros-0.6" },
    "OS-EXT-SRV-ATTR:host": "h1",
    "OS-EXT-STS:vm_state": "active",
    "OS-EXT-STS:task_state": null,
    "lazarus:ha_enabled": true,
    "lazarus:ha_priority": 0,
    "lazarus:server_group": null,
    "lazarus:fencing_required": null,
    ...over,
  };
}

const fencing = (h: string) => ({ host: h, refused_by: null, since: null, message: `power ${h} off` });

describe("work waiting for a person", () => {
  it("names each item with the actions that resolve it, the most urgent first", () => {
    const hosts = [
      host("h1", { state: "down", enabled: false }),
      host("h2", {
        enabled: false,
        incident: { id: "i2", status: "closed", source: "alarm", opened_at: "x" },
      }),
      host("h3", {
        drift: {
          at: "t",
          unknown_domains: [{ uuid: "u", recorded_host: null }],
          missing_domains: [{ instance_uuid: "gone-id", name: "gone" }],
        },
      }),
      host("h4", { state: "down", forced_down: true, enabled: false }),
    ];
    const web = server("web-1", { "lazarus:fencing_required": fencing("h1") });
    const db = server("db-1", { "lazarus:fencing_required": fencing("h4"), "OS-EXT-SRV-ATTR:host": "h4" });
    const broken = server("app-1", {
      "OS-EXT-SRV-ATTR:host": "h3",
      status: "ERROR",
      "OS-EXT-STS:vm_state": "error",
      fault: { code: 500, message: "NoValidHost" },
    });
    const incidents: IncidentSummary[] = [
      {
        id: "i5",
        host: "h5",
        status: "held",
        source: "alarm",
        reason: null,
        opened_at: "t",
        updated_at: "t",
        execution: null,
        summary: null,
      },
    ];
    const gone = server("gone", { "OS-EXT-SRV-ATTR:host": "h3" });
    const items = workItems(hosts, [web, db, broken, server("fine"), gone], incidents);
    expect(items.map((w) => [w.kind, w.actions.map((a) => a.kind)])).toEqual([
      // Nothing proves h1 off: power it off, or say it is off.
      ["fencing-required", ["power-off", "force-down"]],
      // h4 is proven off (forced down): evacuate.
      ["fencing-required", ["evacuate-instance"]],
      ["held", ["evacuate-host"]],
      ["error", ["rebuild-instance", "evacuate-instance"]],
      ["disabled", ["enable-host"]],
      ["drift", ["adopt", "rebuild-instance"]],
    ]);
    expect(items[0]!.detail).toBe("power h1 off");
    expect(items[4]!.title).toBe("h2 is back but disabled after its recovery");
    // A down, disabled host is not "back": it is not offered for enabling.
    expect(items.some((w) => w.key === "disabled-h1")).toBe(false);
  });

  it("is empty when nothing waits", () => {
    expect(workItems([host("h1")], [server("a")], [])).toEqual([]);
  });
});

describe("instances and hosts as shown", () => {
  it("orders fencing required, then ERROR, then a running task, then the rest by name", () => {
    const order = sortInstances([
      server("b"),
      server("busy", { "OS-EXT-STS:task_state": "rebuilding" }),
      server("err", { "OS-EXT-STS:vm_state": "error", status: "ERROR" }),
      server("a"),
      server("fence", { "lazarus:fencing_required": fencing("h1") }),
    ]).map((s) => s.name);
    expect(order).toEqual(["fence", "err", "busy", "a", "b"]);
  });

  it("says a host's state in words and what could prove it dead", () => {
    expect(hostStatus(host("h", { state: "down", enabled: false, forced_down: true }))).toEqual({
      label: "down · disabled · forced down",
      tone: "bad",
    });
    expect(hostStatus(host("h", { enabled: false })).tone).toBe("warn");
    const drained = host("h", {
      enabled: false,
      maintenance: { state: "maintenance", reason: "kernel update", since: "2026-12-06T10:00:00Z" },
    });
    expect(hostStatus(drained)).toEqual({ label: "up · in maintenance", tone: "warn" });
    // Disabled on purpose: not "back but disabled" work for a person.
    expect(workItems([drained], [], []).map((w) => w.kind)).not.toContain("disabled");
    expect(workItems([host("h", { enabled: false })], [], []).map((w) => w.kind)).toContain("disabled");
    expect(
      proofsAvailable(host("h", { fencing: { power: "none", watchdog: true, disk_locks: false } })),
    ).toEqual([
      { label: "no fence", present: false },
      { label: "watchdog", present: true },
      { label: "disk locks", present: false },
    ]);
  });

  it("says whether the fleet absorbs losing a host, from the capacity check", () => {
    const capacity = {
      notAbsorbable: [{ host: "h1", unplaced: [{ name: "big-1" }] }],
      checkedHosts: ["h1", "h2"],
    };
    expect(absorbable("h1", capacity)).toEqual({ verdict: "no", unplaced: ["big-1"] });
    expect(absorbable("h2", capacity).verdict).toBe("yes");
    expect(absorbable("h3", capacity).verdict).toBe("empty");
    expect(absorbable("h1", null).verdict).toBe("unknown");
  });

  it("keeps each instance's newest action", () => {
    const m = (id: string, uuid: string, created: string) =>
      ({ id, instance_uuid: uuid, created_at: created }) as MigrationView;
    const last = lastActions([
      m("1", "a", "2026-01-01T00:00:01"),
      m("2", "a", "2026-01-01T00:00:03"),
      m("3", "b", "2026-01-01T00:00:02"),
    ]);
    expect(last.get("a")?.id).toBe("2");
    expect(last.get("b")?.id).toBe("3");
  });
});
