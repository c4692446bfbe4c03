/**
 * The `lazarus` CLI's naming and outcomes against the API of a host-less local cloud: servers by name
 * (an ambiguous name lists its matches), hosts by name or service id, the exit code of a flow from how it
 * ended, tables that stay tables, and an unreachable API named by its URL (the CLI as a subprocess: exit 1).
 */
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiUnreachable, LazarusClient } from "#cli/client.js";
import { table } from "#cli/render.js";
import { EXIT, exitCodeOf, NotFoundError, resolveHost, resolveServer } from "#cli/resolve.js";
import { serviceUuid } from "#functions/api/views.js";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { makeHost, makeInstance, seedUncleanTarget } from "../../support/fixtures.js";

let cloud: ApiTestCloud;
let client: LazarusClient;
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

beforeAll(async () => {
  cloud = await startApiTestCloud();
  const { hosts, instances } = cloud.db.stores;
  await hosts.put(makeHost({ name: "host-a" }));
  await instances.create(makeInstance({ name: "web-2" }));
  await instances.create(makeInstance({ name: "twin" }));
  await instances.create(makeInstance({ name: "twin" }));
  client = new LazarusClient({ url: cloud.api.url });
}, 60_000);

afterAll(async () => {
  await cloud?.stop();
});

const step = (name: string) => ({
  name,
  type: "Task",
  status: "succeeded" as const,
  attempts: 1,
  enteredAt: "2026-01-01T00:00:00.000Z",
  exitedAt: "2026-01-01T00:00:01.000Z",
  error: null,
  cause: null,
});
const execution = (status: string, last: string, error: string | null = null) => ({
  id: "x",
  status,
  error,
  cause: null,
  started_at: "2026-01-01T00:00:00.000Z",
  stopped_at: "2026-01-01T00:00:01.000Z",
  steps: [step("OpenIncident"), step(last)],
});

describe("names, outcomes, tables", () => {
  it("finds a server by name or id; an ambiguous name is an error listing every match", async () => {
    const byName = await resolveServer(client, "web-2");
    expect(byName.name).toBe("web-2");
    expect((await resolveServer(client, byName.id)).id).toBe(byName.id);
    const twins = (await cloud.db.stores.instances.list()).filter((i) => i.name === "twin");
    const err = await resolveServer(client, "twin").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    for (const t of twins) expect((err as Error).message).toContain(t.uuid);
    await expect(resolveServer(client, "nobody")).rejects.toThrow(/no server with the name or id "nobody"/);
  });

  it("finds a host by name or by its service id", async () => {
    expect(await resolveHost(client, "host-a")).toBe("host-a");
    expect(await resolveHost(client, serviceUuid("host-a"))).toBe("host-a");
    await expect(resolveHost(client, "host-q")).rejects.toThrow(/no compute host/);
  });

  it("says what a flow did in its exit code: a host that is not dead is not a success", () => {
    expect(exitCodeOf(execution("SUCCEEDED", "Evacuated"))).toBe(EXIT.ok);
    expect(exitCodeOf(execution("SUCCEEDED", "NotDead"))).toBe(EXIT.notDead);
    expect(exitCodeOf(execution("SUCCEEDED", "HeldForOperator"))).toBe(EXIT.held);
    expect(exitCodeOf(execution("SUCCEEDED", "Duplicate"))).toBe(EXIT.duplicate);
    expect(exitCodeOf(execution("FAILED", "FencingRequired", "FencingRequired"))).toBe(EXIT.fencingRequired);
    expect(exitCodeOf(execution("FAILED", "FlowFailed", "SpawnFailed"))).toBe(EXIT.failed);
  });

  it("keeps a table a table when a cell holds several lines", () => {
    const out = table(["ID", "ERROR"], [["m-1", "SpawnFailed: virsh said\n  error: Failed to start\n\n"]]);
    expect(out.trimEnd().split("\n")).toHaveLength(2);
    expect(out).toContain("SpawnFailed: virsh said | error: Failed to start");
  });
});

const cli = (...args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      `${ROOT}cli/bin/lazarus`,
      args,
      { env: { ...process.env, LAZARUS_API_URL: cloud.api.url }, timeout: 60_000 },
      (e, stdout, stderr) => resolve({ code: e ? Number(e.code) : 0, stdout, stderr }),
    );
  });

describe("clean-target", () => {
  it("is refused while the host does not answer (exit 1, nothing released); --gone releases the claim", async () => {
    const { instance: inst } = await seedUncleanTarget(cloud.db.stores, "host-a", { name: "unclean-1" });
    const refused = await cli("clean-target", "unclean-1", "host-a");
    expect(refused.code, refused.stderr).toBe(EXIT.failed);
    expect(refused.stderr).toMatch(/Host host-a could not be cleaned .*"gone": true/);
    expect((await cloud.db.stores.hosts.require("host-a")).claims[inst.uuid]).toBeDefined();
    expect((await cli("clean-target", "unclean-1")).code).toBe(2);
    const gone = await cli("clean-target", "unclean-1", "host-a", "--gone", "--json");
    expect(gone.code, gone.stderr).toBe(0);
    expect(JSON.parse(gone.stdout)).toEqual({
      cleanTarget: { host: "host-a", how: "operator-statement", claimReleased: true, uncleanTargets: [] },
    });
    expect((await cloud.db.stores.hosts.require("host-a")).claims[inst.uuid]).toBeUndefined();
  });
});

describe("an API that does not answer", () => {
  it("is named by its URL; the CLI exits 1", async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    await expect(new LazarusClient({ url }).get("/servers")).rejects.toBeInstanceOf(ApiUnreachable);
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        `${ROOT}cli/bin/lazarus`,
        ["rebuild", "web-2"],
        { env: { ...process.env, LAZARUS_API_URL: url }, timeout: 60_000 },
        (e, _o, stderr) => resolve({ code: e ? Number(e.code) : 0, stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach the Lazarus API at ${url}`);
    expect(r.stderr).toContain("ECONNREFUSED");
  });
});
