/**
 * Simulated hosts for the local cloud (a fleet of hundreds or thousands on one machine, beside a few real
 * libvirt hosts): no Unix user, no libvirtd, no process per host. Each one
 *  - is a managed instance of the local SSM endpoint whose agent lives in this process (`attachAgent`):
 *    it runs the commands the flows send, the very scripts a real host gets, with `bash` as root in the
 *    host's own folders, and its `virsh` / `qemu-img` are clients of the in-memory hypervisor model
 *    (hypervisor.ts), which answers each operation after its latency;
 *  - sends its heartbeat (the same embedded-metric-format line as `lazarus-host heartbeat`, value 0: no
 *    watchdog) into the local CloudWatch Logs every interval, in process (`ingest`, no HTTP): the same
 *    metric extraction, the same alarms (registration's, through the same adapter) as a real host. A beat
 *    the event loop could not send on time is sent late with its own time, as a live host's late
 *    PutLogEvents would be: the control plane's own stalls do not make live hosts look dead;
 *  - has power: off stops its agent, its heartbeats and its running domains (they stay defined, shut off,
 *    their disks' locks free); on brings the agent and heartbeats back, no domain started. The local EC2
 *    endpoint's fence switches it like a real machine's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { heartbeatLogLine, hostLogStreamName } from "#shared/definitions/heartbeat.js";
import type { HostStorage, Resources } from "#shared/domain/schemas.js";
import { type LocalHostRecord, newManagedInstanceId } from "../hosts/local-host.js";
import type { AgentCommand, AgentReport, SsmEndpoint } from "../ssm/ssm-endpoint.js";
import { DEFAULT_SIM_LATENCY, SimHypervisors, type SimLatency } from "./hypervisor.js";

export interface SimHostSpec {
  name: string;
  /** Hosts with the same pool share one instances folder (default: none, a private one). */
  sharedPoolId?: string | null;
  availabilityZone?: string;
  /** Default 32 vCPU, 4096 MiB, 100 GiB (with the default ratios: 96 instances of 64 MiB). */
  capacity?: Resources;
}

/** Where a simulated host's heartbeat lines go (the local CloudWatch Logs, in process). */
export interface SimHeartbeatSink {
  ingest(group: string, stream: string, events: { timestamp: number; message: string }[]): void;
  group: string;
  intervalMs: number;
}

export interface SimFleetOptions {
  hosts: SimHostSpec[];
  /** The run's folder (the fleet's own is made under it). */
  dir: string;
  ssm: SsmEndpoint;
  heartbeat: SimHeartbeatSink;
  latency?: SimLatency;
  /** Base images in the shared image cache (`<name>.qcow2`). */
  images?: string[];
  /** Tags each host carries in SSM (the KVM host tag). */
  tags?: Record<string, string>;
}

export interface SimHost {
  name: string;
  managedInstanceId: string;
  storage: HostStorage;
  /** What registration would record for it. */
  record(): LocalHostRecord;
}

export interface SimFleet {
  hosts: Map<string, SimHost>;
  hypervisors: SimHypervisors;
  /** Power lost: agent gone (its commands killed, unreported), heartbeats stop, running domains stop. */
  powerOff(name: string): void;
  /** Power back: agent and heartbeats back; no domain started (autostart is off). */
  powerOn(name: string): void;
  isOn(name: string): boolean;
  /** Sends every heartbeat due by now (the local CloudWatch calls it before it evaluates alarms). */
  emitDueHeartbeats(now?: number): void;
  /** Commands run, heartbeat lines sent. */
  readonly counts: { commands: number; heartbeats: number };
  stop(): Promise<void>;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const OUTPUT_KEEP = 48_000;

interface HostRuntime {
  host: SimHost;
  token: string;
  on: boolean;
  nextBeatAt: number;
  detach?: () => void;
  running: Map<string, ChildProcess>;
  dir: string;
}

export async function startSimFleet(opts: SimFleetOptions): Promise<SimFleet> {
  const root = join(opts.dir, "sim");
  const bin = join(root, "bin");
  const images = join(root, "images");
  const volumes = join(root, "volumes");
  for (const d of [root, bin, images, volumes]) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const tool of ["virsh", "qemu-img"] as const) {
    const path = join(bin, tool);
    writeFileSync(path, SimHypervisors.clientScript(tool));
    chmodSync(path, 0o755);
  }
  for (const image of opts.images ?? ["cirros-0.6", "ubuntu-24.04"])
    writeFileSync(join(images, `${image}.qcow2`), "");
  const pools = new Map<string, string>();
  const poolDir = (pool: string) => {
    let p = pools.get(pool);
    if (!p) {
      p = join(root, `pool-${pool}`);
      mkdirSync(p, { recursive: true });
      pools.set(pool, p);
    }
    return p;
  };

  const hypervisors = new SimHypervisors(opts.latency ?? DEFAULT_SIM_LATENCY);
  const port = await hypervisors.listen();
  const counts = { commands: 0, heartbeats: 0 };
  const runtimes = new Map<string, HostRuntime>();
  const hosts = new Map<string, SimHost>();

  const runtime = (name: string) => {
    const r = runtimes.get(name);
    if (!r) throw new Error(`no simulated host ${name}`);
    return r;
  };

  const attach = (r: HostRuntime) => {
    r.detach = opts.ssm.attachAgent(r.host.managedInstanceId, {
      run: (command, report) => runCommand(r, command, report),
      cancel: (commandId) => {
        const child = r.running.get(commandId);
        if (child) killGroup(child);
      },
    }).detach;
  };

  const runCommand = (r: HostRuntime, command: AgentCommand, report: (a: AgentReport) => void) => {
    counts.commands++;
    const environment = (command as AgentCommand & { environment?: Record<string, string> }).environment;
    const child = spawn("bash", ["-c", command.script], {
      cwd: r.dir,
      env: {
        PATH: `${bin}:${PATH}`,
        HOME: r.dir,
        LC_ALL: "C",
        LAZARUS_SIM_PORT: String(port),
        LAZARUS_SIM_TOKEN: r.token,
        ...(environment ?? {}),
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    r.running.set(command.commandId, child);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < OUTPUT_KEEP) stdout += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < OUTPUT_KEEP) stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, command.executionTimeoutSeconds * 1000);
    let reported = false;
    const done = (exitCode: number, extra = "") => {
      if (reported) return;
      reported = true;
      clearTimeout(timer);
      // A command of a host that lost power meanwhile died with it: nothing is reported.
      if (r.running.get(command.commandId) !== child) return;
      r.running.delete(command.commandId);
      report({ exitCode, stdout, stderr: stderr + extra, timedOut });
    };
    child.on("error", (e) => done(127, `agent: cannot run bash: ${e.message}\n`));
    child.on("close", (code, signal) => {
      if (timedOut) done(124, "\nfailed to run commands: exit status 124 (execution timed out)\n");
      else done(code ?? (signal ? 137 : -1));
    });
  };

  for (const spec of opts.hosts) {
    const dir = join(root, `h-${spec.name}`);
    mkdirSync(dir, { recursive: true });
    const pool = spec.sharedPoolId ?? null;
    const storage: HostStorage = {
      instancesPath: pool ? poolDir(pool) : join(dir, "instances"),
      sharedPoolId: pool,
      imageCachePath: images,
      volumesPath: volumes,
    };
    const managedInstanceId = newManagedInstanceId();
    const host: SimHost = {
      name: spec.name,
      managedInstanceId,
      storage,
      record: () => ({
        name: spec.name,
        managedInstanceId,
        virtType: "qemu",
        supportsRecreate: true,
        availabilityZone: spec.availabilityZone ?? "nova",
        capacity: spec.capacity ?? { vcpus: 32, memoryMiB: 4096, diskGiB: 100 },
        storage,
        // The hypervisor model has no live migration: a simulated host is never a live migration's end.
        liveMigration: null,
      }),
    };
    hosts.set(spec.name, host);
    const token = hypervisors.addHost(spec.name);
    opts.ssm.registerInstance(managedInstanceId, spec.name, opts.tags);
    const r: HostRuntime = { host, token, on: true, nextBeatAt: Date.now(), running: new Map(), dir };
    runtimes.set(spec.name, r);
    attach(r);
  }

  const streamsMade = new Set<string>();
  const emitDueHeartbeats = (now = Date.now()) => {
    const { group, intervalMs } = opts.heartbeat;
    for (const r of runtimes.values()) {
      if (!r.on || r.nextBeatAt > now) continue;
      const events: { timestamp: number; message: string }[] = [];
      // Late beats are sent late with their own times, as a live host's delayed PutLogEvents would be.
      for (; r.nextBeatAt <= now; r.nextBeatAt += intervalMs)
        events.push({
          timestamp: r.nextBeatAt,
          message: heartbeatLogLine({
            host: r.host.name,
            at: new Date(r.nextBeatAt),
            intervalSeconds: intervalMs / 1000,
            fleet: group,
          }),
        });
      const stream = hostLogStreamName(r.host.name, "heartbeat");
      streamsMade.add(stream);
      opts.heartbeat.ingest(group, stream, events);
      counts.heartbeats += events.length;
    }
  };
  const ticker = setInterval(
    () => emitDueHeartbeats(),
    Math.max(100, Math.floor(opts.heartbeat.intervalMs / 4)),
  );
  ticker.unref();

  const powerOff = (name: string) => {
    const r = runtime(name);
    if (!r.on) return;
    r.on = false;
    r.detach?.();
    r.detach = undefined;
    const dying = [...r.running.values()];
    r.running.clear();
    for (const child of dying) killGroup(child);
    hypervisors.powerOff(name);
  };
  const powerOn = (name: string) => {
    const r = runtime(name);
    if (r.on) return;
    r.on = true;
    hypervisors.powerOn(name);
    r.nextBeatAt = Date.now();
    attach(r);
  };

  return {
    hosts,
    hypervisors,
    powerOff,
    powerOn,
    isOn: (name) => runtime(name).on,
    emitDueHeartbeats,
    counts,
    async stop() {
      clearInterval(ticker);
      for (const r of runtimes.values()) {
        r.detach?.();
        for (const child of r.running.values()) killGroup(child);
        r.running.clear();
      }
      await hypervisors.close();
    },
  };
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}
