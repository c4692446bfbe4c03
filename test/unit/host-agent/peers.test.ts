/**
 * Peers that notice first (host-agent/peers.ts).
 *  - `PeerView`, on a given clock: a peer is reported once per silence, only after it was heard, never while
 *    the observer hears none of its other peers, not after a goodbye;
 *  - the packaged agent as processes (the bundle, `lazarus-host heartbeat` with `peers`), each on an address
 *    of its own, reporting through the local EventBridge with its own host key (held to the host role): one
 *    killed by SIGKILL is reported by both of the others, once each; one stopped with SIGTERM says goodbye
 *    and is not reported; when the last peer an agent hears goes silent too, it reports none (it may be the
 *    one cut off); an EventBridge that cannot be reached is tried again until it takes the report;
 *  - a bad `peers` section exits 78 naming the key.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureHostAgentBundle } from "#host-agent/package/bundle.js";
import { encodePeerMessage, PeerView, parsePeerMessage } from "#host-agent/peers.js";
import type { PeersState } from "#host-agent/state.js";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { LocalCredentials } from "#local/http/sigv4.js";
import { hostPrincipal } from "#local/iam/host-policy.js";
import { PEER_SILENT_EVENT, PeerSilentDetail } from "#shared/domain/host-failure.js";
import { runProcess } from "../../support/processes.js";

describe("PeerView: what one observer reports", () => {
  const S = 3000;
  it("never reports a peer it has not heard since it started", () => {
    const v = new PeerView(["b", "c"], S);
    v.heard("b", 0);
    expect(v.due(60_000).reports.map((r) => r.host)).toEqual(["b"]);
    expect(v.snapshot(60_000).find((p) => p.host === "c")?.state).toBe("unknown");
  });

  it("reports a heard peer once it is silent for the bound, once per silence, again after it was heard again", () => {
    const v = new PeerView(["b", "c"], S);
    v.heard("b", 0);
    v.heard("c", 0);
    v.heard("c", 2500);
    expect(v.due(2999).reports).toEqual([]);
    const first = v.due(3000).reports;
    expect(first).toEqual([
      { host: "b", lastHeardAt: new Date(0).toISOString(), silentSeconds: 3, hearing: 1 },
    ]);
    // Not taken yet (EventBridge failed): still due.
    expect(v.due(3500).reports.map((r) => r.host)).toEqual(["b"]);
    v.reported("b", first[0]!.lastHeardAt);
    v.heard("c", 4000);
    expect(v.due(4500).reports).toEqual([]);
    expect(v.heard("b", 5000)).toBe("again");
    v.heard("c", 7000);
    expect(v.due(7999).reports).toEqual([]);
    expect(v.due(8000).reports.map((r) => [r.host, r.lastHeardAt])).toEqual([
      ["b", new Date(5000).toISOString()],
    ]);
  });

  it("reports none while it hears none of the others it heard (it is more likely the one cut off)", () => {
    const v = new PeerView(["b", "c", "d"], S);
    for (const p of ["b", "c", "d"]) v.heard(p, 0);
    const all = v.due(3000);
    expect(all).toEqual({ reports: [], isolated: true });
    v.heard("d", 3100);
    const some = v.due(3200);
    expect(some.isolated).toBe(false);
    expect(some.reports.map((r) => [r.host, r.hearing])).toEqual([
      ["b", 1],
      ["c", 1],
    ]);
  });

  it("a host with one peer reports it (nobody to compare with)", () => {
    const v = new PeerView(["b"], S);
    v.heard("b", 0);
    expect(v.due(3000).reports.map((r) => r.host)).toEqual(["b"]);
  });

  it("a goodbye makes the peer unknown: not reported until heard again", () => {
    const v = new PeerView(["b", "c"], S);
    v.heard("b", 0);
    v.heard("c", 0);
    expect(v.forget("b")).toBe(true);
    v.heard("c", 3500);
    expect(v.due(4000).reports).toEqual([]);
    expect(v.heard("b", 4100)).toBe("first");
    expect(v.forget("x")).toBe(false);
  });

  it("ignores a beat from a host that is not its peer", () => {
    const v = new PeerView(["b"], S);
    expect(v.heard("z", 0)).toBe("unknown");
    expect(v.due(10_000).reports).toEqual([]);
  });
});

describe("the wire", () => {
  it("reads what it writes, and nothing else", () => {
    for (const kind of ["beat", "bye"] as const) {
      const m = { kind, host: "kvm-07.rack-2", seq: 42 };
      expect(parsePeerMessage(encodePeerMessage(m))).toEqual(m);
    }
    for (const junk of [
      "lazarus-peer-beat 2 kvm-07 1",
      "lazarus-peer-beat 1 kvm;07 1",
      "lazarus-peer-beat 1 kvm-07",
      "lazarus-peer-beat 1 kvm-07 1 extra",
      `lazarus-peer-beat 1 ${"a".repeat(300)} 1`,
      "",
    ])
      expect(parsePeerMessage(Buffer.from(junk))).toBeNull();
  });
});

// ---- the packaged agent, as processes ------------------------------------------------------------------

const PORT = 7405;
let bundle: string;
let work: string;
let events: EventsEndpoint;
let credentials: LocalCredentials;
/** Refuses every connection while `refusing` (EventBridge unreachable), else forwards to `events`. */
let gate: Server;
let gateUrl: string;
let refusing = false;
const children: ChildProcess[] = [];
const gateSockets = new Set<Socket>();

beforeAll(async () => {
  bundle = await ensureHostAgentBundle();
  work = mkdtempSync(join(tmpdir(), "lz-peers-"));
  credentials = new LocalCredentials();
  events = await startEventsEndpoint({ credentials });
  const target = new URL(events.url);
  gate = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      gateSockets.add(s);
      s.on("close", () => gateSockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => gate.listen(0, "127.0.0.1", r));
  gateUrl = `http://127.0.0.1:${(gate.address() as { port: number }).port}`;
}, 120_000);

afterEach(async () => {
  await Promise.all(children.splice(0).map(stopChild));
  refusing = false;
});

afterAll(async () => {
  for (const s of gateSockets) s.destroy();
  await new Promise((r) => gate?.close(r));
  await events?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The agent's environment as its unit gives it: nothing but PATH and HOME. */
const agentEnv = () => ({ PATH: process.env.PATH ?? "", HOME: work });

/** The packaged program run to its end. */
const agentCommand = (args: string[]) =>
  runProcess(process.execPath, [bundle, ...args], { env: agentEnv(), timeoutMs: 20_000 });

function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    c.once("exit", () => resolve());
    c.kill("SIGKILL");
  });
}

/** A fresh /24 on loopback for each group of agents: hosts a, b, c at .1, .2, .3. */
function network(): (i: number) => string {
  const a = randomInt(1, 255);
  const b = randomInt(0, 256);
  return (i) => `127.${a}.${b}.${i + 1}`;
}

function agentConfig(
  name: string,
  names: string[],
  at: (i: number) => string,
  eventsUrl: string,
  edit: (peers: { listen: string }) => void = () => {},
) {
  const i = names.indexOf(name);
  const key = credentials.issue(hostPrincipal(name));
  const dir = join(work, `${name}-${at(i)}`);
  const credentialsFile = join(work, `${name}-${at(i)}.credentials`);
  writeFileSync(
    credentialsFile,
    `[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`,
  );
  const config = {
    host: name,
    region: "us-east-1",
    // Heartbeats go nowhere (a closed port): the peer watch does not depend on them.
    endpoints: { logs: "http://127.0.0.1:9", cloudwatch: "http://127.0.0.1:9", events: eventsUrl },
    credentials: { file: credentialsFile },
    stateDir: join(dir, "run"),
    persistentStateDir: join(dir, "lib"),
    peers: {
      listen: `${at(i)}:${PORT}`,
      intervalSeconds: 0.5,
      silentAfterSeconds: 1.5,
      hosts: names
        .filter((n) => n !== name)
        .map((n) => ({ host: n, address: `${at(names.indexOf(n))}:${PORT}` })),
    },
  };
  edit(config.peers);
  const file = join(work, `${name}-${at(i)}.json`);
  writeFileSync(file, JSON.stringify(config));
  return { file, stateDir: config.stateDir };
}

interface Agent {
  name: string;
  child: ChildProcess;
  stateDir: string;
  log: () => string;
}

function startAgent(
  name: string,
  names: string[],
  at: (i: number) => string,
  eventsUrl = events.url,
  edit?: (peers: { listen: string }) => void,
): Agent & { file: string } {
  const { file, stateDir } = agentConfig(name, names, at, eventsUrl, edit);
  const child = spawn(process.execPath, [bundle, "heartbeat", "--config", file], {
    env: agentEnv(),
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let log = "";
  child.stderr!.on("data", (d) => {
    log += d;
  });
  return { name, child, stateDir, log: () => log, file };
}

function peersState(a: Agent): PeersState | null {
  try {
    return JSON.parse(readFileSync(join(a.stateDir, "peers.json"), "utf8")) as PeersState;
  } catch {
    return null;
  }
}

async function until<T>(
  what: string,
  fn: () => T | undefined | false | null,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const heardAll = (agents: Agent[]) =>
  until("every agent hearing every peer", () =>
    agents.every((a) => peersState(a)?.peers.every((p) => p.state === "heard")),
  );

/** Agents `names` on a fresh network, once each hears every other; `before`: the reports taken so far. */
async function startHearing(names: string[], eventsUrl = events.url) {
  const at = network();
  const agents = names.map((n) => startAgent(n, names, at, eventsUrl));
  await heardAll(agents);
  return { agents, before: reports().length };
}

/** The peer-silent reports the local EventBridge took, parsed. */
function reports(): PeerSilentDetail[] {
  return events.events
    .filter((e) => e.detailType === PEER_SILENT_EVENT.detailType && e.source === PEER_SILENT_EVENT.source)
    .map((e) => PeerSilentDetail.parse(JSON.parse(e.detail)));
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => c.once("exit", () => r()));

describe("the packaged agent's peer watch", () => {
  it("a peer killed (SIGKILL) is reported once by each of the others; a peer stopped (SIGTERM) says goodbye and is not", async () => {
    const { agents, before } = await startHearing(["pa", "pb", "pc"]);

    agents[2]!.child.kill("SIGKILL");
    await until("both observers' reports of pc", () =>
      reports()
        .slice(before)
        .filter((r) => r.host === "pc").length >= 2
        ? true
        : undefined,
    );
    // Both reports taken: each observer says it is reported, and then no further report comes for this
    // silence (three more silent bounds).
    await until("pa and pb saying pc is reported", () =>
      agents
        .slice(0, 2)
        .every((a) => peersState(a)?.peers.find((p) => p.host === "pc")?.state === "reported"),
    );
    await new Promise((r) => setTimeout(r, 4500));
    const ofPc = reports()
      .slice(before)
      .filter((r) => r.host === "pc");
    expect(ofPc.map((r) => r.observer).sort()).toEqual(["pa", "pb"]);
    for (const r of ofPc) {
      expect(r.hearing).toBe(1);
      expect(r.silentSeconds).toBeGreaterThanOrEqual(1.5);
    }

    // SIGTERM: pb says goodbye; pa forgets it (its only other peer, pc, is silent already).
    const stopped = reports().length;
    agents[1]!.child.kill("SIGTERM");
    await exited(agents[1]!.child);
    expect(agents[1]!.child.exitCode).toBe(0);
    await until(
      "pa forgetting pb",
      () => peersState(agents[0]!)?.peers.find((p) => p.host === "pb")?.state === "unknown",
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(
      reports()
        .slice(stopped)
        .filter((r) => r.host === "pb"),
    ).toEqual([]);
    expect(agents[0]!.log()).toMatch(/peer pb stopped on purpose/);
  }, 90_000);

  it("when the last peer it hears goes silent too, reports it not (it may be the one cut off)", async () => {
    const { agents, before } = await startHearing(["qa", "qb", "qc"]);
    // qc dies: qa still hears qb, and reports qc.
    agents[2]!.child.kill("SIGKILL");
    await until("qa's report of qc", () =>
      reports()
        .slice(before)
        .find((r) => r.observer === "qa" && r.host === "qc"),
    );
    // qb dies: qa hears nobody now, so it says so and reports nothing more.
    agents[1]!.child.kill("SIGKILL");
    await until("qa seeing qb silent", () =>
      peersState(agents[0]!)?.peers.find((p) => p.host === "qb")?.state === "silent" ? true : undefined,
    );
    await until("qa saying so", () => /reporting none \(cut off\?\)/.test(agents[0]!.log()));
    await new Promise((r) => setTimeout(r, 2000));
    expect(
      reports()
        .slice(before)
        .filter((r) => r.observer === "qa")
        .map((r) => r.host),
    ).toEqual(["qc"]);
    expect(peersState(agents[0]!)?.peers.find((p) => p.host === "qb")?.state).toBe("silent");
  }, 60_000);

  it("an EventBridge it cannot reach: the report is sent again at each interval until it is taken", async () => {
    const { agents, before } = await startHearing(["ra", "rb"], gateUrl);
    refusing = true;
    agents[1]!.child.kill("SIGKILL");
    await until("ra failing to report rb twice", () =>
      (agents[0]!.log().match(/peer rb silent for [\d.]+ s: not reported yet/g) ?? []).length >= 2
        ? true
        : undefined,
    );
    expect(reports().length).toBe(before);
    expect(peersState(agents[0]!)?.lastReportFailure?.host).toBe("rb");
    refusing = false;
    await until("ra's report of rb taken", () =>
      reports()
        .slice(before)
        .find((r) => r.host === "rb"),
    );
    expect(
      reports()
        .slice(before)
        .filter((r) => r.host === "rb"),
    ).toHaveLength(1);
  }, 60_000);
});

describe("a peer watch that cannot listen", () => {
  it("says so once, keeps trying, and the heartbeat process runs on; status shows it NOT LISTENING", async () => {
    // An address this machine does not have (TEST-NET-1): the bind fails.
    const a = startAgent("sa", ["sa", "sb"], network(), events.url, (peers) => {
      peers.listen = `192.0.2.1:${PORT}`;
    });
    const { child, file } = a;
    await until("the peer state written", () => peersState(a));
    await new Promise((r) => setTimeout(r, 2000));
    expect(child.exitCode).toBeNull();
    expect(a.log().match(/peer watch: socket 192\.0\.2\.1:7405 failed/g)).toHaveLength(1);
    expect(peersState(a)?.listening).toBe(false);
    const status = await agentCommand(["status", "--json", "--config", file]);
    expect(status.code).toBe(1);
    const parsed = JSON.parse(status.out.trim().split("\n").at(-1)!) as {
      peers: { ok: boolean; listening: boolean };
    };
    expect(parsed.peers).toMatchObject({ ok: false, listening: false });
  }, 60_000);
});

describe("a bad peers section: exit 78 naming the key", () => {
  const base = {
    host: "kvm-01",
    region: "eu-west-1",
    peers: { listen: "10.0.0.1:7405", hosts: [{ host: "kvm-02", address: "10.0.0.2:7405" }] },
  };
  const cases: [string, unknown, RegExp][] = [
    [
      "itself among its peers",
      { ...base, peers: { ...base.peers, hosts: [{ host: "kvm-01", address: "10.0.0.1:7405" }] } },
      /peers\.hosts\.0\.host: kvm-01 is this host/,
    ],
    [
      "a silence shorter than two beats",
      { ...base, peers: { ...base.peers, intervalSeconds: 2, silentAfterSeconds: 3 } },
      /peers\.silentAfterSeconds: at least two intervals/,
    ],
    ["a bad address", { ...base, peers: { ...base.peers, listen: "10.0.0.300:7405" } }, /peers\.listen: /],
    [
      "no port",
      { ...base, peers: { ...base.peers, hosts: [{ host: "kvm-02", address: "10.0.0.2" }] } },
      /peers\.hosts\.0\.address: /,
    ],
    [
      "a peer listed twice",
      { ...base, peers: { ...base.peers, hosts: [base.peers.hosts[0], base.peers.hosts[0]] } },
      /peers\.hosts: listed twice: kvm-02/,
    ],
    ["no peers", { ...base, peers: { ...base.peers, hosts: [] } }, /peers\.hosts: /],
  ];
  for (const [what, config, message] of cases) {
    it(what, async () => {
      const file = join(work, `bad-${what.replace(/\W+/g, "-")}.json`);
      writeFileSync(file, JSON.stringify(config));
      const r = await agentCommand(["check-config", "--config", file]);
      expect(r.code, r.out).toBe(78);
      expect(r.out).toMatch(message);
    });
  }

  it("the base is valid (each case differs from it by the bad value only)", async () => {
    const file = join(work, "good-peers.json");
    writeFileSync(file, JSON.stringify(base));
    const r = await agentCommand(["check-config", "--config", file]);
    expect(r.code, r.out).toBe(0);
  });
});
