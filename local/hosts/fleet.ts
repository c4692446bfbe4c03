/**
 * The local cloud's hosts and SSM: one SSM endpoint plus one LocalHost per host spec, all under
 * one run id (Unix group `lz<runid>`, users `lz<runid>-<host>`, folder /tmp/lz-<random>).
 * `local/cloud.ts` composes this with the other local services.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { ensureHostAgentBundle } from "#host-agent/package/bundle.js";
import type { PeerWatchConfigInput } from "#shared/definitions/host-config.js";
import { KVM_HOST_TAG_KEY, KVM_HOST_TAG_VALUE } from "#shared/definitions/host-tag.js";
import { DEFAULT_PREFIX } from "#shared/store/tables.js";
import { type LocalBmcs, startBmcs } from "../bmc/ipmi-bmcs.js";
import type { LocalCredentials } from "../http/sigv4.js";
import { hostPrincipal } from "../iam/host-policy.js";
import { Machine, machineBootFiles, machineDir, type PowerSwitch } from "../machine/machine.js";
import { watchdogDevicePaths } from "../machine/watchdog-device.js";
import { deployHostDocuments } from "../ssm/host-documents.js";
import { type SsmEndpoint, type SsmEndpointOptions, startSsmEndpoint } from "../ssm/ssm-endpoint.js";
import { CPU_GROUP_SETTING, createCpuGroup, plannedHostsCpuGroup } from "./cpu-group.js";
import { LocalHost, type LocalHostConfig, type LocalHostSpec, unixUserName } from "./local-host.js";
import {
  newRunMarker,
  passwdCommandSync,
  removeDeadRuns,
  removeRunLeftovers,
  removeRunMarker,
  runStateDir,
  writeRunMarker,
} from "./run-marker.js";

export interface FleetOptions {
  hosts: LocalHostSpec[];
  /** Parent folder for this run's folder (default /tmp). Host users must be able to traverse it. */
  rootDir?: string;
  ssm?: SsmEndpointOptions;
  /** Base images per host image cache (default: cirros-0.6 and ubuntu-24.04, 64M blank qcow2). */
  images?: { name: string; virtualSize: string }[];
  /** Start libvirtd + agents (default true); false = users and folders only. */
  start?: boolean;
  /** Where runs leave their markers (default LAZARUS_LOCAL_STATE_DIR, else /var/lib/lazarus-local/runs). */
  stateDir?: string;
  /**
   * Every host runs the host agent (lazarus-host: the packaged bundle, installed in the run folder) pointed
   * at these endpoints, signing with keys `credentials` issues to each host. None = no host agent.
   */
  agent?: FleetAgentOptions;
  /**
   * Every machine has a watchdog device with this timeout, s (softdog's soft_margin); none = no device. A
   * host spec's own `watchdogTimeoutSeconds` overrides it for that machine.
   */
  watchdogTimeoutSeconds?: number;
  /** A machine powered on (or reset) boots this long before its host starts, ms (default 0). */
  bootDelayMs?: number;
  /** The deployment prefix of the host documents created on the SSM endpoint (default "lazarus"). */
  documentPrefix?: string;
  /**
   * Each host gets a simulated BMC (local/bmc/ipmi-bmcs.ts: OpenIPMI's ipmi_sim on loopback, its chassis
   * power the host's machine power), run by the run's BMC user.
   */
  bmcs?: boolean;
  /**
   * The AWS endpoints and region the hosts' own tools use (AWS_ENDPOINT_URL_*, AWS_REGION); each host signs
   * with credentials of its own (`AWS_ACCESS_KEY_ID` lazarus-host-<name>).
   */
  hostAwsEnv?: Record<string, string>;
}

export interface FleetAgentOptions {
  region: string;
  endpoints: { logs: string; cloudwatch: string; events: string };
  credentials: LocalCredentials;
  logGroup: string;
  heartbeatIntervalSeconds: number;
  /** Feed the watchdog only when a heartbeat was accepted within this long of its timestamp, s (default 2). */
  feedWithinSeconds?: number;
  /** The guest lifecycle monitor (`lazarus-host monitor`) with this liveness interval, s; none = not run. */
  monitorIntervalSeconds?: number;
  /**
   * Peers that notice first (host-agent/peers.ts): every host beats to every other over UDP, each on an
   * address of its own (`peerAddressOf`); none = no peer watch (the hosts' deaths are their alarms').
   */
  peers?: { intervalSeconds?: number; silentAfterSeconds?: number };
}

export interface FleetEnv {
  AWS_ENDPOINT_URL_SSM: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}

export interface Fleet {
  runId: string;
  /** This run's folder (removed on stop). */
  dir: string;
  /** The CPU cgroup all hosts' processes run in (cpu-group.ts); absent where the machine has none. */
  cpuGroup?: string;
  /** The Unix group every host user of this run belongs to. */
  group: string;
  gid: number;
  ssm: SsmEndpoint;
  hosts: Map<string, LocalHost>;
  /** Each host's machine: its power (off / on / reset) and its watchdog device (local/machine). */
  machines: Map<string, Machine>;
  /** Environment for processes that talk to this cloud's SSM (and the SDK's region/credentials). */
  env: FleetEnv;
  volumesPath: string;
  /** Shared instances folder per pool id. */
  sharedPools: Map<string, string>;
  /** A real SSMClient pointed at the local endpoint. */
  ssmClient(): SSMClient;
  /** Each host's power as its BMC switches it (its machine's, cause "bmc"). */
  power: Map<string, PowerSwitch>;
  /** The hosts' simulated BMCs (with `bmcs`). */
  bmcs?: LocalBmcs;
  /** Tear-down: no process, user, group or folder left. Idempotent. */
  stop(): Promise<void>;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---- tear-down on exit / Ctrl-C, for every fleet still running in this process -----------------
interface Live {
  stop(): Promise<void>;
  stopSync(): void;
}
const live = new Set<Live>();
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
let handlersInstalled = false;
function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // An error that ends the process (or process.exit) while a fleet runs: remove it synchronously.
  process.on("exit", () => {
    for (const f of [...live]) f.stopSync();
  });
  // A terminal's Ctrl-C reaches the whole process group, and npm and tsx relay it once more to their
  // child: one tear-down (fleet.stop(), the same for the CLI's own listener), repeats only noted. The
  // handlers stay installed so that no repeat kills the process half-way through its tear-down.
  let stopping = false;
  for (const sig of Object.keys(SIGNAL_EXIT_CODES) as (keyof typeof SIGNAL_EXIT_CODES)[]) {
    process.on(sig, () => {
      if (stopping) return;
      if (live.size === 0) {
        // Nothing of ours to remove: behave as if this handler were not there.
        if (process.listenerCount(sig) === 1) process.exit(SIGNAL_EXIT_CODES[sig]);
        return;
      }
      stopping = true;
      process.stderr.write(`${sig}: stopping the local hosts (processes, users, folders)\n`);
      void Promise.allSettled([...live].map((f) => f.stop())).then((results) => {
        // Said either way: whoever pressed Ctrl-C learns whether anything was left (and where).
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        for (const f of failed)
          process.stderr.write(
            `${sig}: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}\n`,
          );
        if (failed.length === 0) process.stderr.write(`${sig}: the local hosts are removed\n`);
        process.exit(SIGNAL_EXIT_CODES[sig]);
      });
    });
  }
}

function passwdCommandOrThrow(argv: string[]): void {
  const r = passwdCommandSync(argv[0]!, argv.slice(1));
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.trim()}`);
}

function groupadd(name: string): number {
  const r = passwdCommandSync("groupadd", [name]);
  if (r.status !== 0) throw new Error(`groupadd ${name} failed: ${r.stderr.trim()}`);
  const g = spawnSync("getent", ["group", name], { encoding: "utf8", env: { PATH } });
  return Number((g.stdout ?? "").split(":")[2]);
}

/**
 * The run's BMC user (runs the simulated BMCs). Host users are `lz<runid>-<name>` with a name that starts
 * with a letter or digit, so `-_bmc` is never one of them.
 */
export function bmcUserName(runId: string): string {
  return `lz${runId}-_bmc`;
}

/** A short folder name per host: qemu monitor sockets live under it and Unix socket paths are short. */
function hostFolderName(name: string): string {
  if (/^[A-Za-z0-9_-]{1,16}$/.test(name)) return name;
  return createHash("sha1").update(name).digest("hex").slice(0, 12);
}

/** The port of the peer watch on every host (each host has an address of its own, as on a real network). */
export const LOCAL_PEER_PORT = 7405;

/**
 * Host `index`'s address on the run's "hosts' network": 127.<a>.<b>.<index + 1>, a and b from the run id
 * (loopback, as every server of the local cloud; a clash needs two live runs with the same two bytes), so
 * each host binds the same port on its own address, as real hosts do.
 */
export function peerAddressOf(runId: string, index: number): string {
  if (index > 253) throw new Error("at most 254 hosts on a run's peer network");
  const a = Number.parseInt(runId.slice(0, 2), 16) || 1;
  const b = Number.parseInt(runId.slice(2, 4), 16);
  return `127.${a}.${b}.${index + 1}`;
}

/** Ports each host's qemu may listen on for an incoming live migration (MIGRATION_PORTS_PER_HOST of them). */
const MIGRATION_PORTS_PER_HOST = 16;
/** Runs share this span, below Linux's ephemeral ports (32768 and up): no socket of this machine takes them by chance. */
const MIGRATION_PORT_SPAN = { first: 20_000, runs: 24, hostsPerRun: 32 };

/**
 * The incoming-migration ports of host `index` of run `runId`: every host of this machine listens on
 * 127.0.0.1, and each session libvirtd allocates its ports alone (libvirt's default range, 49152-49215, is
 * the same for all), so two hosts taking a guest at once would pick the same port. Each host gets a range
 * of its own, and each run a block of its own (its run id chooses it; a clash needs two live runs with the
 * same block).
 */
export function migrationPortsOf(runId: string, index: number): { min: number; max: number } {
  const { first, runs, hostsPerRun } = MIGRATION_PORT_SPAN;
  if (index >= hostsPerRun) throw new Error(`at most ${hostsPerRun} hosts per local cloud`);
  const block = Number.parseInt(runId, 16) % runs;
  const min = first + (block * hostsPerRun + index) * MIGRATION_PORTS_PER_HOST;
  return { min, max: min + MIGRATION_PORTS_PER_HOST - 1 };
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  if (process.getuid?.() !== 0) throw new Error("the local fleet needs root (useradd, per-host users)");
  const names = opts.hosts.map((h) => h.name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate host names: ${names.join(", ")}`);

  // What earlier runs killed with SIGKILL left behind goes first.
  const stateDir = opts.stateDir ?? runStateDir();
  removeDeadRuns(stateDir, (line) => process.stderr.write(`local hosts: ${line}\n`));

  const runId = randomBytes(3).toString("hex");
  const group = `lz${runId}`;
  const parent = opts.rootDir ?? "/tmp";
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, "lz-"));
  const plannedCpuGroup = plannedHostsCpuGroup(runId);
  // Written before anything is created: a run killed at any point from here on is found by the next start.
  const marker = newRunMarker({
    runId,
    group,
    users: [
      ...opts.hosts.map((h) => unixUserName(runId, h.name)),
      ...(opts.bmcs ? [bmcUserName(runId)] : []),
    ],
    dirs: [dir],
    ...(plannedCpuGroup ? { cpuGroups: [plannedCpuGroup] } : {}),
  });
  const markerPath = writeRunMarker(stateDir, marker);
  const hosts = new Map<string, LocalHost>();
  const machines = new Map<string, Machine>();
  const power = new Map<string, PowerSwitch>();
  let ssm: SsmEndpoint | undefined;
  let bmcs: LocalBmcs | undefined;
  let finished = false;

  // Everything the marker names, removed synchronously; the marker goes only once all of it is gone.
  const removeLeftovers = () => {
    const left = removeRunLeftovers(marker);
    if (left.length > 0)
      throw new Error(`fleet tear-down incomplete: ${left.join(", ")} (see ${markerPath})`);
    removeRunMarker(markerPath);
    finished = true;
    live.delete(entry);
  };
  const stopSync = () => {
    if (finished) return;
    bmcs?.closeSync();
    for (const m of machines.values()) void m.destroy();
    for (const h of hosts.values()) h.destroySync();
    try {
      removeLeftovers();
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
    }
  };
  // One tear-down however many callers ask for it (a signal handler, the CLI, a test's afterAll).
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      let results: PromiseSettledResult<void>[] = [];
      try {
        await bmcs?.close();
        await Promise.all([...machines.values()].map((m) => m.destroy()));
        results = await Promise.allSettled([...hosts.values()].map((h) => h.destroy()));
        await ssm?.close();
      } finally {
        removeLeftovers();
      }
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length > 0)
        throw new AggregateError(
          failed.map((f) => f.reason),
          "fleet tear-down: a host did not stop cleanly (its user and processes were removed anyway)",
        );
    })();
    return stopping;
  };
  const entry: Live = { stop, stopSync };
  live.add(entry);
  installHandlers();

  try {
    const gid = groupadd(group);
    // The hosts' processes share the CPU with the control plane as one (cpu-group.ts).
    const cpuGroup =
      plannedCpuGroup !== undefined && createCpuGroup(plannedCpuGroup) ? plannedCpuGroup : undefined;
    if (cpuGroup === undefined && process.env[CPU_GROUP_SETTING] !== "off")
      process.stderr.write(
        "local hosts: no CPU cgroup to put the hosts in; they share the CPU with the control plane process by process\n",
      );
    // The run's folder: group members may enter; shared folders are setgid + group-writable.
    chownSync(dir, 0, gid);
    chmodSync(dir, 0o750);
    const shared = (p: string) => {
      mkdirSync(p, { recursive: true });
      chownSync(p, 0, gid);
      chmodSync(p, 0o2770);
      return p;
    };
    const volumesPath = shared(join(dir, "volumes"));
    const sharedPools = new Map<string, string>();
    for (const h of opts.hosts) {
      if (h.sharedPoolId && !sharedPools.has(h.sharedPoolId)) {
        sharedPools.set(h.sharedPoolId, shared(join(dir, "shared", hostFolderName(h.sharedPoolId))));
      }
    }
    if (sharedPools.size > 0) chmodSync(join(dir, "shared"), 0o755);

    ssm = await startSsmEndpoint(opts.ssm);
    const endpoint = ssm;
    const ssmClient = () =>
      new SSMClient({
        endpoint: endpoint.url,
        region: "us-east-1",
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
      });
    // The stack's host documents, as the CDK stack deploys them: the only commands the hosts run.
    const deploying = ssmClient();
    await deployHostDocuments(deploying, opts.documentPrefix ?? DEFAULT_PREFIX).finally(() =>
      deploying.destroy(),
    );
    // The host agent, installed on the machine as the package installs it: the very bundle the package holds.
    const bundle = opts.agent ? await installHostAgentBundle(dir) : undefined;
    // Every host's peer-watch endpoint (its own address, the one port), for the others' host.json.
    const peerEndpoints = opts.hosts.map((h, i) => ({
      host: h.name,
      address: `${peerAddressOf(runId, i)}:${LOCAL_PEER_PORT}`,
    }));
    for (const [index, spec] of opts.hosts.entries()) {
      const folder = hostFolderName(spec.name);
      const mDir = machineDir(dir, folder);
      const watchdogTimeoutSeconds =
        spec.watchdogTimeoutSeconds === undefined ? opts.watchdogTimeoutSeconds : spec.watchdogTimeoutSeconds;
      const hasWatchdog = watchdogTimeoutSeconds !== undefined && watchdogTimeoutSeconds !== null;
      const peers = opts.agent?.peers ? peerSettings(opts.agent.peers, peerEndpoints, index) : null;
      const agent: LocalHostConfig["agent"] =
        opts.agent && bundle
          ? agentConfig(opts.agent, bundle, spec.name, mDir, hasWatchdog, peers)
          : undefined;
      const host = await LocalHost.create({
        spec,
        endpoint,
        unixUser: unixUserName(runId, spec.name),
        group,
        gid,
        hostDir: join(dir, `h-${folder}`),
        machineDir: mDir,
        sharedInstancesPath: spec.sharedPoolId ? sharedPools.get(spec.sharedPoolId) : undefined,
        volumesPath,
        images: opts.images,
        migrationPorts: migrationPortsOf(runId, index),
        ...(cpuGroup ? { cpuGroup } : {}),
        ...(agent ? { agent } : {}),
        ...(opts.hostAwsEnv
          ? {
              agentEnv: {
                AWS_ENDPOINT_URL_SSM: endpoint.url,
                ...opts.hostAwsEnv,
                AWS_ACCESS_KEY_ID: `lazarus-host-${spec.name}`,
                AWS_SECRET_ACCESS_KEY: "local",
              },
            }
          : {}),
      });
      hosts.set(spec.name, host);
      machines.set(
        spec.name,
        new Machine({
          host,
          dir: mDir,
          bootDelayMs: opts.bootDelayMs ?? 0,
          ...(hasWatchdog ? { watchdogTimeoutSeconds } : {}),
          log: (line) => process.stderr.write(`local machine: ${line}\n`),
        }),
      );
      power.set(spec.name, machines.get(spec.name)!.switchFor("bmc"));
      endpoint.registerInstance(
        host.managedInstanceId,
        spec.name,
        spec.tagged === false ? {} : { [KVM_HOST_TAG_KEY]: KVM_HOST_TAG_VALUE },
      );
    }
    if (opts.bmcs) {
      passwdCommandOrThrow([
        "useradd",
        "-M",
        "-N",
        "-g",
        group,
        "-d",
        join(dir, "bmc"),
        "-s",
        "/usr/sbin/nologin",
        bmcUserName(runId),
      ]);
      const uid = Number(
        spawnSync("id", ["-u", bmcUserName(runId)], { encoding: "utf8", env: { PATH } }).stdout.trim(),
      );
      bmcs = await startBmcs({ dir, uid, gid, machines: power });
    }
    if (opts.start !== false) {
      // The first boot is immediate: the fleet starts with its machines on.
      await Promise.all(
        [...machines.values()].map(async (m) => {
          const delay = m.bootDelayMs;
          m.bootDelayMs = 0;
          try {
            await m.powerOn("cloud");
          } finally {
            m.bootDelayMs = delay;
          }
        }),
      );
    }

    const env: FleetEnv = {
      AWS_ENDPOINT_URL_SSM: endpoint.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    };
    return {
      runId,
      dir,
      ...(cpuGroup ? { cpuGroup } : {}),
      group,
      gid,
      ssm: endpoint,
      hosts,
      machines,
      power,
      ...(bmcs ? { bmcs } : {}),
      env,
      volumesPath,
      sharedPools,
      ssmClient,
      stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

/** Copies the host agent's bundle into the run folder (root's, readable by every host user), rebuilt if stale. */
async function installHostAgentBundle(runDir: string): Promise<string> {
  const built = await ensureHostAgentBundle();
  const optDir = join(runDir, "opt", "lazarus-host");
  mkdirSync(optDir, { recursive: true, mode: 0o755 });
  chmodSync(join(runDir, "opt"), 0o755);
  const installed = join(optDir, "lazarus-host.mjs");
  copyFileSync(built, installed);
  chmodSync(installed, 0o644);
  return installed;
}

/**
 * The agent part of a host's configuration: the cloud's endpoints, its own keys, the machine's kernel files
 * (boot id and time) and, if it has one, its watchdog device.
 */
function agentConfig(
  o: FleetAgentOptions,
  bundle: string,
  host: string,
  mDir: string,
  watchdog: boolean,
  peers: PeerWatchConfigInput | null,
): NonNullable<LocalHostConfig["agent"]> {
  const key = o.credentials.issue(hostPrincipal(host));
  return {
    bundle,
    region: o.region,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    monitor: o.monitorIntervalSeconds !== undefined,
    settings: {
      endpoints: o.endpoints,
      heartbeat: {
        logGroup: o.logGroup,
        intervalSeconds: o.heartbeatIntervalSeconds,
        feedWithinSeconds: o.feedWithinSeconds ?? 2,
      },
      watchdog: watchdog ? watchdogDevicePaths(mDir) : null,
      peers,
      boot: machineBootFiles(mDir),
      monitor: {
        libvirtUri: "qemu:///session",
        eventBus: "default",
        intervalSeconds: o.monitorIntervalSeconds ?? 5,
      },
    },
  };
}

/** Host `index`'s peer watch: it listens at its own endpoint and watches every other host's. */
function peerSettings(
  o: NonNullable<FleetAgentOptions["peers"]>,
  all: readonly { host: string; address: string }[],
  index: number,
): PeerWatchConfigInput {
  return {
    listen: all[index]!.address,
    ...(o.intervalSeconds !== undefined ? { intervalSeconds: o.intervalSeconds } : {}),
    ...(o.silentAfterSeconds !== undefined ? { silentAfterSeconds: o.silentAfterSeconds } : {}),
    hosts: all.filter((_, i) => i !== index),
  };
}
