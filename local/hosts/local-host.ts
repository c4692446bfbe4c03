/**
 * A KVM "host" on this machine: its own Unix user, its own session libvirtd, its own SSM agent.
 * A session libvirtd per Unix user is one independent host (its own socket and domain configs). Must run as root.
 *
 * Processes are tracked by pid and, for power loss, by the host's uid (every process of that uid
 * is the host's: agent, libvirtd, qemu, scripts). Nothing is ever killed by name.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lchownSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HOST_CONFIG_ENV, type HostConfigInput } from "#shared/definitions/host-config.js";
import { IMAGES } from "#shared/domain/catalog.js";
import type { Host, HostLiveMigration, HostStorage, Resources } from "#shared/domain/schemas.js";
import { machineClockFile } from "../machine/clock.js";
import type { SsmEndpoint } from "../ssm/ssm-endpoint.js";
import { joinCpuGroup } from "./cpu-group.js";

export interface LocalHostSpec {
  /** Compute host name (ResourceName). */
  name: string;
  /** Hosts with the same pool share one instancesPath; none = a private instancesPath. */
  sharedPoolId?: string | null;
  availabilityZone?: string;
  /** Capacity to advertise in the Host record (defaults: 4 vCPU, 4096 MiB, 40 GiB). */
  capacity?: Resources;
  /** Carries the Lazarus KVM host tag in SSM (default true); false = a machine registration must refuse. */
  tagged?: boolean;
  /**
   * This machine's watchdog device timeout, s (overrides the fleet's `watchdogTimeoutSeconds`); null = this
   * machine has none whatever the fleet says.
   */
  watchdogTimeoutSeconds?: number | null;
}

/** What the fleet decides for a host: its user, group and folders. */
export interface LocalHostConfig {
  spec: LocalHostSpec;
  endpoint: SsmEndpoint;
  /** Unix user name, unique per cloud run (<= 32 chars). */
  unixUser: string;
  /** The cloud's group (all hosts of one cloud share it). */
  group: string;
  gid: number;
  /** This host's private folder (home, runtime dir, logs, image cache, private instances). */
  hostDir: string;
  /** Shared instances folder of the host's pool, or undefined for a private one under hostDir. */
  sharedInstancesPath?: string;
  /** Volumes folder visible to all hosts of the cloud. */
  volumesPath: string;
  /** The ports this host's qemu listens on for an incoming live migration (qemu.conf's migration_port_*). */
  migrationPorts: { min: number; max: number };
  /**
   * The CPU cgroup every process of this host is started in (cpu-group.ts: the hosts weigh together what
   * the control plane weighs); none = the machine's own scheduling.
   */
  cpuGroup?: string;
  /** Base images created in the image cache (`<name>.qcow2`). */
  images?: { name: string; virtualSize: string }[];
  /**
   * The machine's own folder (root's, outside hostDir): the host's configuration file
   * (`etc/lazarus/host.json`, as /etc/lazarus/host.json), its AWS credentials, the watchdog device.
   */
  machineDir: string;
  /**
   * The host agent (lazarus-host, the packaged program): the bundle as installed on this machine, the
   * configuration's agent part (endpoints, intervals, watchdog device) and whether its guest monitor runs.
   * None = no agent (a host with only libvirtd and its SSM agent).
   */
  agent?: {
    bundle: string;
    settings: Omit<HostConfigInput, "host" | "region" | "credentials" | "stateDir" | "persistentStateDir">;
    region: string;
    /** The AWS credentials the local cloud issued to this host (written to its credentials file). */
    credentials: { accessKeyId: string; secretAccessKey: string };
    monitor: boolean;
  };
  /**
   * The SSM agent's (and so every host command's) AWS environment: the endpoints, region and credentials
   * the host's own tools use, as the AWS CLI in a delegate's fence script reading a BMC password.
   */
  agentEnv?: Record<string, string>;
}

/** The Host record fields that the local cloud knows (the rest is bookkeeping of the control plane). */
export type LocalHostRecord = Pick<
  Host,
  | "name"
  | "managedInstanceId"
  | "virtType"
  | "supportsRecreate"
  | "availabilityZone"
  | "capacity"
  | "storage"
  | "liveMigration"
>;

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Every image of the catalog (shared/domain/catalog.ts), as a blank qcow2 of its size. */
export const DEFAULT_IMAGES = IMAGES.map((i) => ({ name: i.id, virtualSize: i.virtualSize }));

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The host's own processes beside libvirtd, with their log files: the SSM agent (a script of the local
 * cloud) and the two parts of the host agent, `lazarus-host heartbeat` and `lazarus-host monitor` (the
 * packaged program, as lazarus-host.service and lazarus-host-monitor.service run it on a real host).
 */
const HOST_PROCESSES = {
  agent: { log: "agent.log" },
  heartbeat: { log: "lazarus-host.log" },
  "instance-monitor": { log: "lazarus-host-monitor.log" },
} as const;
type HostProcess = keyof typeof HOST_PROCESSES;

// tsx's loader, resolved from this repo (whatever path it is cloned to).
const TSX_LOADER = createRequire(import.meta.url).resolve("tsx");
const SSM_AGENT_SCRIPT = fileURLToPath(new URL("../ssm/agent.ts", import.meta.url));
/** The preload that makes a root-started Node the host's user before it loads the host agent (systemd's User=). */
const AS_HOST_USER = fileURLToPath(new URL("./as-host-user.ts", import.meta.url));
/** The preload that gives the host agent's processes the machine's clock (local/machine/clock.ts). */
const MACHINE_CLOCK = fileURLToPath(new URL("../machine/clock-preload.ts", import.meta.url));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function newManagedInstanceId(): string {
  return `mi-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

/** `lz<runid>-<host>` within 32 chars and useradd's default NAME_REGEX; hashed when it must be changed. */
export function unixUserName(runId: string, hostName: string): string {
  const prefix = `lz${runId}-`;
  const clean = hostName.toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  if (clean === hostName && prefix.length + clean.length <= 32) return prefix + clean;
  const hash = createHash("sha1").update(hostName).digest("hex").slice(0, 6);
  return `${prefix}${clean.slice(0, 32 - prefix.length - 7)}-${hash}`;
}

/** Processes whose real or effective uid is `uid`, excluding zombies (they hold nothing). */
export function processesOfUid(uid: number): number[] {
  return processesOfUids([uid]).get(uid)!;
}

/**
 * `processesOfUid` for several uids in one pass over /proc (a sampler looking at every host of a cloud
 * reads each process's status once, not once per host: the reads are synchronous).
 */
export function processesOfUids(uids: Iterable<number>): Map<number, number[]> {
  const out = new Map<number, number[]>([...uids].map((u) => [u, []]));
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (!ids || state === "Z" || state === "X") continue;
    const real = Number(ids[1]);
    const effective = Number(ids[2]);
    out.get(real)?.push(Number(entry));
    if (effective !== real) out.get(effective)?.push(Number(entry));
  }
  return out;
}

function killQuietly(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL") {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a command as root, synchronously; throws with its stderr on failure. */
function rootSync(cmd: string, args: string[], allowFail = false): CommandResult {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { PATH, LANG: "C.UTF-8" } });
  const res = { exitCode: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
  if (!allowFail && res.exitCode !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${res.exitCode}: ${res.stderr.trim()}`);
  }
  return res;
}

/** useradd/userdel/groupadd lock /etc/passwd; parallel clouds can collide, so retry a few times. */
async function withPasswdLock(cmd: string, args: string[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = rootSync(cmd, args, true);
    if (r.exitCode === 0) return;
    if (attempt < 20 && /lock/i.test(r.stderr)) {
      await sleep(100 + Math.random() * 200);
      continue;
    }
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.exitCode}: ${r.stderr.trim()}`);
  }
}

export class LocalHost {
  readonly name: string;
  readonly managedInstanceId: string;
  readonly unixUser: string;
  readonly availabilityZone: string;
  readonly hostDir: string;
  /** Wrappers placed here shadow the host's real commands (fault injection); empty normally. */
  readonly faultBinDir: string;
  private readonly faultRules = new Map<
    string,
    { onArg: string; message: string; mode: "fail" | "hang-after" }[]
  >();
  readonly homeDir: string;
  readonly runtimeDir: string;
  /**
   * The folder of the host's libvirtd socket (`unix_sock_dir`): the group may reach it, so the other hosts'
   * libvirtds can connect for a peer-to-peer live migration (a real fleet's qemu+tls between machines).
   */
  readonly socketDir: string;
  readonly configDir: string;
  readonly cacheDir: string;
  /** The host's /tmp (TMPDIR): what its scripts leave there when the host dies mid-way stays in hostDir. */
  readonly tmpDir: string;
  readonly logDir: string;
  readonly instancesPath: string;
  readonly imageCachePath: string;
  readonly volumesPath: string;
  readonly sharedPoolId: string | null;
  readonly gid: number;
  private readonly config: LocalHostConfig;
  private _uid = -1;
  private libvirtd?: ChildProcess;
  /** The host's processes that run now (agent, heartbeat, instance monitor, guard), by role. */
  private readonly processes = new Map<HostProcess, ChildProcess>();
  private created = false;
  private destroyed = false;

  private constructor(config: LocalHostConfig) {
    this.config = config;
    this.name = config.spec.name;
    this.managedInstanceId = newManagedInstanceId();
    this.unixUser = config.unixUser;
    this.availabilityZone = config.spec.availabilityZone ?? "nova";
    this.sharedPoolId = config.spec.sharedPoolId ?? null;
    this.gid = config.gid;
    this.hostDir = config.hostDir;
    this.homeDir = join(config.hostDir, "home");
    this.runtimeDir = join(config.hostDir, "run");
    this.socketDir = join(config.hostDir, "sock");
    // libvirt keeps qemu monitor sockets under $XDG_CONFIG_HOME/libvirt/qemu/lib/domain-N-NAME/:
    // Unix socket paths are limited to 107 bytes, so hostDir must be short (the fleet sees to it).
    this.configDir = join(config.hostDir, "cfg");
    this.faultBinDir = join(config.hostDir, "fault-bin");
    this.cacheDir = join(config.hostDir, "cache");
    this.tmpDir = join(config.hostDir, "tmp");
    this.logDir = join(config.hostDir, "log");
    this.imageCachePath = join(config.hostDir, "_base");
    this.instancesPath = config.sharedInstancesPath ?? join(config.hostDir, "instances");
    this.volumesPath = config.volumesPath;
  }

  /** Creates the user, folders and base images. Does not start anything (see start()). */
  static async create(config: LocalHostConfig): Promise<LocalHost> {
    const host = new LocalHost(config);
    await host.provision();
    return host;
  }

  get uid(): number {
    return this._uid;
  }

  /** Environment of the host's user: scripts and virsh see this host's libvirtd only. */
  get env(): Record<string, string> {
    return {
      // The fault folder comes first, so a test can put a failing wrapper in front of a real command.
      PATH: `${this.faultBinDir}:${PATH}`,
      LANG: "C.UTF-8",
      HOME: this.homeDir,
      USER: this.unixUser,
      LOGNAME: this.unixUser,
      SHELL: "/bin/bash",
      XDG_RUNTIME_DIR: this.runtimeDir,
      XDG_CONFIG_HOME: this.configDir,
      XDG_CACHE_HOME: this.cacheDir,
      TMPDIR: this.tmpDir,
      LIBVIRT_DEFAULT_URI: "qemu:///session",
      // Never let a client auto-spawn a libvirtd we do not track (e.g. virsh on a killed host).
      LIBVIRT_AUTOSTART: "0",
      // The host's configuration (on a real host: /etc/lazarus/host.json): the agent's and registration's.
      [HOST_CONFIG_ENV]: this.settingsPath,
    };
  }

  /** The host's configuration file (root's, readable by the host's user), as an operator would write it. */
  get settingsPath(): string {
    return join(this.config.machineDir, "etc", "lazarus", "host.json");
  }

  /** The AWS credentials file of the host's agent (the local cloud's keys for this host). */
  get credentialsPath(): string {
    return join(this.config.machineDir, "aws", "credentials");
  }

  /** Where the host agent leaves its state for `lazarus-host status`. */
  get agentStateDir(): string {
    return join(this.runtimeDir, "lazarus-host");
  }

  /** Where the host agent keeps what outlives a reboot (a real host's /var/lib/lazarus-host). */
  get agentPersistentStateDir(): string {
    return join(this.hostDir, "var-lib-lazarus-host");
  }

  get storage(): HostStorage {
    return {
      instancesPath: this.instancesPath,
      sharedPoolId: this.sharedPoolId,
      imageCachePath: this.imageCachePath,
      volumesPath: this.volumesPath,
    };
  }

  /**
   * How the other hosts live-migrate a guest here: through this host's libvirtd socket (peer to peer, the
   * source's libvirtd connects to it), the guest's memory over 127.0.0.1; the pool is a folder of this
   * machine, which libvirt cannot recognise as shared storage (so `--unsafe`, see HostLiveMigration).
   */
  get liveMigration(): HostLiveMigration {
    return {
      uri: `qemu+unix:///session?socket=${join(this.socketDir, "libvirt-sock")}`,
      inboundAddress: "127.0.0.1",
      poolIsLocalFolder: true,
    };
  }

  /** The Host record fields the local cloud provides; the store adds usage, claims, status, version. */
  record(): LocalHostRecord {
    return {
      name: this.name,
      managedInstanceId: this.managedInstanceId,
      virtType: "qemu",
      supportsRecreate: true,
      availabilityZone: this.availabilityZone,
      capacity: this.config.spec.capacity ?? { vcpus: 4, memoryMiB: 4096, diskGiB: 40 },
      storage: this.storage,
      liveMigration: this.liveMigration,
    };
  }

  get running(): boolean {
    return this.processes.has("agent") || this.libvirtd !== undefined;
  }

  /**
   * Every process of this host is started through this: moved into the hosts' CPU group (cpu-group.ts)
   * right after its spawn, so that what it starts later (libvirtd's qemu, the agent's scripts) is in it too.
   */
  private inHostGroup<C extends ChildProcess>(child: C): C {
    joinCpuGroup(this.config.cpuGroup, child.pid);
    return child;
  }

  /**
   * Starts one of the host's processes, tracked by pid until it exits, its output appended to its log.
   * Started as root and becoming the host's user itself before it loads its program (the SSM agent:
   * local/hosts/drop-privileges.ts; the host agent: local/hosts/as-host-user.ts): it then needs no access
   * to the repo or the Node binary as the host's user.
   */
  private spawnHostProcess(role: HostProcess): void {
    const { log } = HOST_PROCESSES[role];
    const logFd = openSync(join(this.logDir, log), "a");
    const agent = this.config.agent;
    const args =
      role === "agent"
        ? [
            "--import",
            TSX_LOADER,
            SSM_AGENT_SCRIPT,
            "--endpoint",
            this.config.endpoint.url,
            "--instance-id",
            this.managedInstanceId,
            "--uid",
            String(this._uid),
            "--gid",
            String(this.gid),
          ]
        : [
            "--import",
            AS_HOST_USER,
            "--import",
            MACHINE_CLOCK,
            agent!.bundle,
            role === "heartbeat" ? "heartbeat" : "monitor",
            "--config",
            this.settingsPath,
          ];
    const env = role === "agent" ? { ...this.env, ...this.config.agentEnv } : this.agentProcessEnv;
    // detached: its own process group, so a Ctrl-C in the terminal is handled by our teardown.
    const child = this.inHostGroup(
      spawn(process.execPath, args, {
        env,
        cwd: "/",
        stdio: ["ignore", logFd, logFd],
        detached: true,
      }),
    );
    closeSync(logFd);
    this.processes.set(role, child);
    child.on("exit", () => {
      if (this.processes.get(role) === child) this.processes.delete(role);
    });
  }

  /** The environment of a host agent process: the host's, the user to become, the machine's clock. */
  private get agentProcessEnv(): Record<string, string> {
    return {
      ...this.env,
      LAZARUS_LOCAL_RUN_AS_UID: String(this._uid),
      LAZARUS_LOCAL_RUN_AS_GID: String(this.gid),
      LAZARUS_LOCAL_CLOCK_FILE: machineClockFile(this.config.machineDir),
    };
  }

  /** Stops one of the host's processes alone (SIGKILL to its pid) and waits until it has exited. */
  private async stopHostProcess(role: HostProcess): Promise<void> {
    const child = this.processes.get(role);
    if (!child) return;
    killQuietly(child.pid);
    while (child.exitCode === null && child.signalCode === null) await sleep(20);
    if (this.processes.get(role) === child) this.processes.delete(role);
  }

  /** libvirtd's pid while it runs (tests freeze it with SIGSTOP). */
  get libvirtdPid(): number | undefined {
    return this.libvirtd?.pid;
  }

  /** Whether the host agent's heartbeat (`lazarus-host heartbeat`) runs. */
  get heartbeating(): boolean {
    return this.processes.has("heartbeat");
  }

  /** The pid of `lazarus-host heartbeat` (the watchdog's feeder) while it runs. */
  get heartbeatPid(): number | undefined {
    return this.processes.get("heartbeat")?.pid;
  }

  /** Starts `lazarus-host heartbeat` (a process of the host's user, tracked by pid). No-op if running. */
  startHeartbeat(): void {
    if (!this.config.agent || this.processes.has("heartbeat") || !this.running) return;
    this.spawnHostProcess("heartbeat");
  }

  /** The instance monitor's pid while it runs (tests kill it, or the qemu it watches, by pid). */
  get instanceMonitorPid(): number | undefined {
    return this.processes.get("instance-monitor")?.pid;
  }

  /** Starts `lazarus-host monitor` (a process of the host's user, tracked by pid) when configured. No-op if running. */
  startInstanceMonitor(): void {
    if (!this.config.agent?.monitor || this.processes.has("instance-monitor") || !this.running) return;
    this.spawnHostProcess("instance-monitor");
  }

  /**
   * Runs `lazarus-host ARGS --config <this host's file>` (the packaged program's CLI, e.g. `status --json`)
   * as the host's user, as an operator would on the host.
   */
  lazarusHost(args: string[], opts: { timeoutMs?: number } = {}): Promise<CommandResult> {
    const agent = this.config.agent;
    if (!agent) throw new Error(`host ${this.name} runs no host agent`);
    return new Promise((resolve) => {
      const child = this.inHostGroup(
        spawn(
          process.execPath,
          [
            "--import",
            AS_HOST_USER,
            "--import",
            MACHINE_CLOCK,
            agent.bundle,
            ...args,
            "--config",
            this.settingsPath,
          ],
          {
            env: this.agentProcessEnv,
            cwd: "/",
            stdio: ["ignore", "pipe", "pipe"],
            timeout: opts.timeoutMs ?? 30_000,
            killSignal: "SIGKILL",
          },
        ),
      );
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
      });
      child.on("close", (code) => resolve({ exitCode: code ?? -1, stdout, stderr }));
    });
  }

  /** Stops the instance monitor alone (SIGKILL to its pid, and to its virsh): the host keeps running. */
  stopInstanceMonitor(): Promise<void> {
    return this.stopHostProcess("instance-monitor");
  }

  /**
   * A heartbeat blip: `lazarus-host heartbeat` is paused (SIGSTOP to its pid) and later resumed (SIGCONT), as a network
   * hiccup or a stalled process would do; the host and its agent keep running meanwhile.
   */
  pauseHeartbeat(): void {
    const pid = this.processes.get("heartbeat")?.pid;
    if (pid !== undefined) process.kill(pid, "SIGSTOP");
  }

  resumeHeartbeat(): void {
    const pid = this.processes.get("heartbeat")?.pid;
    if (pid !== undefined) process.kill(pid, "SIGCONT");
  }

  /**
   * Stops `lazarus-host heartbeat` alone (SIGKILL to its pid): the host keeps running, its heartbeat goes
   * silent; a watchdog it held keeps counting (closed without the magic character), and resets the node.
   */
  stopHeartbeat(): Promise<void> {
    return this.stopHostProcess("heartbeat");
  }

  private async provision(): Promise<void> {
    const { unixUser, group } = this.config;
    mkdirSync(this.hostDir, { recursive: true });
    await withPasswdLock("useradd", [
      "-M",
      "-N",
      "-g",
      group,
      "-d",
      this.homeDir,
      "-s",
      "/bin/bash",
      unixUser,
    ]);
    this.created = true;
    this._uid = Number(rootSync("id", ["-u", unixUser]).stdout.trim());
    // hostDir: the user's own; group may traverse (other hosts never need to, but it is harmless).
    const own = (p: string, mode: number) => {
      mkdirSync(p, { recursive: true });
      chownSync(p, this._uid, this.gid);
      chmodSync(p, mode);
    };
    own(this.hostDir, 0o750);
    own(this.homeDir, 0o700);
    own(this.runtimeDir, 0o700); // XDG_RUNTIME_DIR must be private
    own(this.socketDir, 0o750);
    own(this.configDir, 0o700);
    own(this.cacheDir, 0o700);
    own(this.tmpDir, 0o700);
    own(this.logDir, 0o750);
    own(this.imageCachePath, 0o755);
    if (!this.config.sharedInstancesPath) own(this.instancesPath, 0o2770);
    this.writeMachineFiles();
    // The libvirtd socket in a folder the group reaches (the source of a peer-to-peer live migration
    // connects to it), read-write for the group; the usual path in the private runtime folder links to
    // it, so `qemu:///session` (every script, virsh and the monitors) finds the daemon as before.
    const libvirtConfig = join(this.configDir, "libvirt");
    own(libvirtConfig, 0o700);
    const daemonConfig = join(libvirtConfig, "libvirtd.conf");
    writeFileSync(daemonConfig, `unix_sock_dir = "${this.socketDir}"\nunix_sock_rw_perms = "0770"\n`);
    chownSync(daemonConfig, this._uid, this.gid);
    // Every local host takes incoming guests on 127.0.0.1: a port range of its own (see fleet.ts).
    const qemuConfig = join(libvirtConfig, "qemu.conf");
    const ports = this.config.migrationPorts;
    writeFileSync(qemuConfig, `migration_port_min = ${ports.min}\nmigration_port_max = ${ports.max}\n`);
    chownSync(qemuConfig, this._uid, this.gid);
    const runtimeLibvirt = join(this.runtimeDir, "libvirt");
    own(runtimeLibvirt, 0o700);
    const link = join(runtimeLibvirt, "libvirt-sock");
    symlinkSync(join(this.socketDir, "libvirt-sock"), link);
    lchownSync(link, this._uid, this.gid);
    for (const img of this.config.images ?? DEFAULT_IMAGES) {
      const file = join(this.imageCachePath, `${img.name}.qcow2`);
      if (existsSync(file)) continue;
      const r = await this.runAs("qemu-img", ["create", "-q", "-f", "qcow2", file, img.virtualSize]);
      if (r.exitCode !== 0) throw new Error(`qemu-img create ${file} failed: ${r.stderr.trim()}`);
    }
  }

  /**
   * The machine's files, root's as on a real host: /etc/lazarus/host.json (storage settings for
   * registration, and the agent's part when it runs one) and the agent's AWS credentials file (the host's
   * own keys, readable by the host's user only).
   */
  private writeMachineFiles(): void {
    const agent = this.config.agent;
    const root = (p: string, mode: number) => {
      mkdirSync(p, { recursive: true });
      chmodSync(p, mode);
    };
    root(this.config.machineDir, 0o755);
    root(join(this.config.machineDir, "etc", "lazarus"), 0o755);
    const settings = {
      host: this.name,
      region: agent?.region ?? "us-east-1",
      ...(agent
        ? {
            ...agent.settings,
            credentials: { file: this.credentialsPath },
            stateDir: this.agentStateDir,
            persistentStateDir: this.agentPersistentStateDir,
          }
        : {}),
      availabilityZone: this.availabilityZone,
      ...this.storage,
      supportsRecreate: true,
      liveMigration: this.liveMigration,
    } satisfies HostConfigInput;
    writeFileSync(this.settingsPath, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o644 });
    if (agent) {
      root(join(this.config.machineDir, "aws"), 0o755);
      writeFileSync(
        this.credentialsPath,
        `[default]\naws_access_key_id = ${agent.credentials.accessKeyId}\naws_secret_access_key = ${agent.credentials.secretAccessKey}\n`,
        { mode: 0o400 },
      );
      chownSync(this.credentialsPath, this._uid, this.gid);
    }
  }

  /** Runs a command directly as the host's user with its environment (not through SSM). */
  runAs(
    cmd: string,
    args: string[],
    opts: { timeoutMs?: number; input?: string } = {},
  ): Promise<CommandResult> {
    return new Promise((resolve) => {
      const child = this.inHostGroup(
        spawn(cmd, args, {
          uid: this._uid,
          gid: this.gid,
          env: this.env,
          cwd: this.homeDir,
          stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
          timeout: opts.timeoutMs ?? 60_000,
          killSignal: "SIGKILL",
        }),
      );
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
      });
      child.stderr?.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
      });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      child.on("error", (e) => resolve({ exitCode: 127, stdout, stderr: stderr + e.message }));
      child.on("close", (code) => resolve({ exitCode: code ?? -1, stdout, stderr }));
    });
  }

  /** `virsh -c qemu:///session ARGS` as the host's user. Throws on a non-zero exit unless allowFail. */
  async virsh(
    args: string[],
    opts: { allowFail?: boolean; timeoutMs?: number } = {},
  ): Promise<CommandResult> {
    // The real binary, never a fault wrapper: assertions must see the host as it is.
    const r = await this.runAs("/usr/bin/virsh", ["-q", "-c", "qemu:///session", ...args], {
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
    if (r.exitCode !== 0 && !opts.allowFail) {
      throw new Error(`[${this.name}] virsh ${args.join(" ")} exited ${r.exitCode}: ${r.stderr.trim()}`);
    }
    return r;
  }

  /**
   * Fault injection: scripts on this host that run `command` with `onArg` among its arguments now
   *  - "fail": exit 1 with `message` on stderr, without running the real command;
   *  - "hang-after": run the real command, then hang (a command that did its work but never reports it,
   *    as a host command that times out after the domain was started);
   * other calls reach the real command. Several faults per command add up; `clearFaults` undoes all.
   */
  injectCommandFault(
    command: "virsh" | "qemu-img",
    onArg: string,
    message: string,
    mode: "fail" | "hang-after" = "fail",
  ): void {
    const rules = this.faultRules.get(command) ?? [];
    rules.push({ onArg, message, mode });
    this.faultRules.set(command, rules);
    mkdirSync(this.faultBinDir, { recursive: true, mode: 0o755 });
    const quoted = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
    const lines = ["#!/bin/bash"];
    for (const r of rules) {
      const match = `for a in "$@"; do [ "$a" = ${quoted(r.onArg)} ] && exit 0; done; exit 1`;
      if (r.mode === "fail") {
        lines.push(`if (${match}); then echo ${quoted(`error: ${r.message}`)} >&2; exit 1; fi`);
      } else {
        lines.push(
          `if (${match}); then /usr/bin/${command} "$@"; echo ${quoted(r.message)} >&2; exec sleep 3600; fi`,
        );
      }
    }
    lines.push(`exec /usr/bin/${command} "$@"`, "");
    writeFileSync(join(this.faultBinDir, command), lines.join("\n"), { mode: 0o755 });
  }

  clearFaults(): void {
    this.faultRules.clear();
    rmSync(this.faultBinDir, { recursive: true, force: true });
  }

  /** Starts libvirtd and the agent; resolves when `virsh list` works and the agent has polled. */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.destroyed) throw new Error(`host ${this.name} was destroyed`);
    if (this.running) return;
    const deadline = Date.now() + timeoutMs;
    const logFd = openSync(join(this.logDir, "libvirtd.log"), "a");
    // sh -c 'umask; exec': the pid stays libvirtd's, and files it creates are group-writable.
    // In the hosts' CPU group, and with it every qemu it starts.
    const libvirtd = this.inHostGroup(
      spawn("/bin/sh", ["-c", "umask 002; exec libvirtd --timeout 0"], {
        uid: this._uid,
        gid: this.gid,
        env: this.env,
        cwd: this.homeDir,
        stdio: ["ignore", logFd, logFd],
        detached: true, // own process group: a Ctrl-C in the terminal is handled by our teardown
      }),
    );
    closeSync(logFd);
    this.libvirtd = libvirtd;
    libvirtd.on("exit", () => {
      if (this.libvirtd === libvirtd) this.libvirtd = undefined;
    });

    for (;;) {
      const r = await this.virsh(["list", "--all"], { allowFail: true, timeoutMs: 20_000 });
      if (r.exitCode === 0) break;
      if (!this.libvirtd)
        throw new Error(`[${this.name}] libvirtd exited; see ${join(this.logDir, "libvirtd.log")}`);
      if (Date.now() > deadline) {
        throw new Error(`[${this.name}] libvirtd did not answer within ${timeoutMs} ms: ${r.stderr.trim()}`);
      }
      await sleep(200);
    }

    await this.spawnAgent(Math.max(5_000, deadline - Date.now()));
    this.startHeartbeat();
    this.startInstanceMonitor();
  }

  /** Starts the SSM agent (a process of the host's user, tracked by pid) and waits for its first poll. */
  private async spawnAgent(timeoutMs: number): Promise<void> {
    const since = Date.now();
    this.spawnHostProcess("agent");
    await this.config.endpoint.waitForPing(this.managedInstanceId, timeoutMs, since);
  }

  /** Whether the SSM agent runs. */
  get agentRunning(): boolean {
    return this.processes.has("agent");
  }

  /**
   * An agent-only failure: the SSM agent is killed (its pid); libvirtd, the guests and the heartbeat keep
   * running. Commands sent to the host are no longer delivered until `startAgent`.
   */
  stopAgent(): Promise<void> {
    return this.stopHostProcess("agent");
  }

  /** Starts the SSM agent again after `stopAgent` (no-op while it runs or when libvirtd does not). */
  async startAgent(timeoutMs = 60_000): Promise<void> {
    if (this.processes.has("agent") || !this.libvirtd) return;
    await this.spawnAgent(timeoutMs);
  }

  /**
   * Power loss: SIGKILL the agent, libvirtd and every process of the host's uid (qemu, scripts),
   * and wait until they are gone. Domain definitions stay on disk.
   */
  async kill(timeoutMs = 15_000): Promise<void> {
    const tracked = [...this.processes.values(), this.libvirtd].filter(
      (c): c is ChildProcess => c !== undefined,
    );
    for (const c of tracked) killQuietly(c.pid);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pids = this._uid >= 0 ? processesOfUid(this._uid) : [];
      const alive = tracked.filter((c) => c.exitCode === null && c.signalCode === null);
      if (pids.length === 0 && alive.length === 0) break;
      if (Date.now() > deadline) {
        throw new Error(
          `[${this.name}] processes still alive after kill: ${[...pids, ...alive.map((c) => c.pid)].join(", ")}`,
        );
      }
      for (const pid of pids) killQuietly(pid);
      for (const c of alive) killQuietly(c.pid);
      await sleep(50);
    }
    this.processes.clear();
    this.libvirtd = undefined;
  }

  /** After kill(): libvirtd and the agent again. A domain that was running is now defined, shut off. */
  async restart(timeoutMs?: number): Promise<void> {
    await this.kill();
    await this.start(timeoutMs);
  }

  /** Tear-down: kill everything, remove the user and this host's folder. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.kill();
    this.destroyed = true;
    if (this.created) {
      // -f: a zombie qemu (reparented to a pid 1 that does not reap) must not block the removal.
      await withPasswdLock("userdel", ["-f", this.unixUser]);
      this.created = false;
    }
    rmSync(this.hostDir, { recursive: true, force: true });
  }

  /** Alias of destroy(). */
  stop(): Promise<void> {
    return this.destroy();
  }

  /** Synchronous best-effort tear-down, for process "exit" handlers. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.processes.values()) killQuietly(child.pid);
    killQuietly(this.libvirtd?.pid);
    if (this._uid >= 0) {
      for (let i = 0; i < 50; i++) {
        const pids = processesOfUid(this._uid);
        if (pids.length === 0) break;
        for (const pid of pids) killQuietly(pid);
        spawnSync("sleep", ["0.05"]);
      }
    }
    if (this.created) rootSync("userdel", ["-f", this.unixUser], true);
    rmSync(this.hostDir, { recursive: true, force: true });
  }
}
