/**
 * A real BMC protocol for the local hosts: one OpenIPMI `ipmi_sim` (Debian's openipmi) per host on
 * 127.0.0.1, each on its own UDP port, speaking IPMI 2.0 / RMCP+ as a server's BMC does, so the delegate's
 * real `fence_ipmilan` (and `ipmitool`) fence it. Its chassis power control is the machine's power
 * (its machine's, local/machine/machine.ts): "chassis power off" is a power loss of that host, "on" brings it back.
 *
 * How the pieces meet: ipmi_sim runs its `chassis_control` program for every power request; that program
 * (a two-line sh script per host) asks this process's power server (HTTP on loopback, behind a random
 * token that only the BMC user can read) to read or switch the host's power. A switch is answered at once
 * and carried out after; the power reads "on" until the host's last process is gone, as a real BMC
 * reports a chassis that is still powering down.
 *
 * Every simulator runs as the run's BMC user (not root, and not a host: a host's power loss leaves its BMC
 * up), with its files in `<run>/bmc/<host>` (mode 0700: the password is in lan.conf), is tracked by pid,
 * and dies with this process (`setpriv --pdeathsig`); a run killed with SIGKILL is cleaned by the next
 * start through the run marker (the BMC user's processes, by uid). Fault switch (`setFault`): `fail`
 * refuses every chassis control (the BMC answers an error), `hang` accepts it and never carries it out.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import type { PowerSwitch } from "../machine/machine.js";

export type BmcFault = { mode: "fail" | "hang" } | null;

export interface LocalBmc {
  host: string;
  address: string;
  port: number;
  username: string;
  /** The BMC password: in the simulator's lan.conf and the local secrets store only. */
  password: string;
}

export interface LocalBmcs {
  /** The BMC of `host` (address, port, user, password). */
  bmc(host: string): LocalBmc;
  /** The simulator's pid while it runs. */
  pid(host: string): number | undefined;
  /** Stops the simulator of `host` (SIGKILL to its pid): its BMC no longer answers. */
  stop(host: string): Promise<void>;
  /** Starts it again on the same port (after `stop`); resolves once it answers, throws if that port is taken. */
  start(host: string): Promise<void>;
  /** `fail`: chassis controls are refused; `hang`: accepted, never carried out; null: normal. */
  setFault(host: string | null, fault: BmcFault): void;
  /** Every chassis power control received (what the fence asked, in order). */
  controls: { host: string; power: "on" | "off"; at: Date; fault: BmcFault }[];
  close(): Promise<void>;
  /** Best-effort synchronous stop of every simulator (process "exit" handlers). */
  closeSync(): void;
}

export interface BmcsOptions {
  /** This run's folder; the BMCs' folder is created in it. */
  dir: string;
  /** The BMC user that runs the simulators (and its group, which may traverse `dir`). */
  uid: number;
  gid: number;
  /** Each host's power, by host name. */
  machines: ReadonlyMap<string, PowerSwitch>;
  /** Ready within this long after start, ms (default 15 s). */
  startTimeoutMs?: number;
}

export const BMC_USERNAME = "admin";
const IPMI_SIM = "/usr/bin/ipmi_sim";
const IPMITOOL = "/usr/bin/ipmitool";
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A UDP port free now on 127.0.0.1 (the simulator may still lose it to another process: start retries). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

/** A password of IPMI's 20 bytes at most, in an alphabet lan.conf and the agents read unquoted. */
function newPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join("");
}

function lanConf(host: string, port: number, password: string, chassisScript: string): string {
  return [
    `name "bmc${randomBytes(4).toString("hex")}"`,
    "set_working_mc 0x20",
    "  startlan 1",
    `    addr 127.0.0.1 ${port}`,
    "    priv_limit admin",
    // IPMI 1.5 sessions only with an MD5-authenticated password (no "none" or "straight"); RMCP+ as set.
    "    allowed_auths_callback md5",
    "    allowed_auths_user md5",
    "    allowed_auths_operator md5",
    "    allowed_auths_admin md5",
    `    guid ${randomBytes(16).toString("hex")}`,
    "  endlan",
    `  chassis_control "${chassisScript} 0x20"`,
    `  user 2 true "${BMC_USERNAME}" "${password}" admin 10 md5`,
    `# the BMC of local host ${host}`,
    "",
  ].join("\n");
}

const EMU_COMMANDS = [
  "mc_setbmc 0x20",
  "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr",
  "mc_enable 0x20",
  "",
].join("\n");

/** ipmi_sim's chassis_control program: "get power" prints power:0|1, "set power 0|1" switches. */
function chassisScript(url: string): string {
  // The URL (with its token) goes to curl on standard input: not on a command line other users can read.
  return [
    "#!/bin/sh",
    `url='${url}'`,
    'case "$2 $3" in',
    `  "get power") printf 'url = "%s"\\n' "$url" | exec curl -sf --max-time 3 -K - ;;`,
    `  "set power") printf 'url = "%s/%s"\\n' "$url" "$4" | exec curl -sf --max-time 3 -X POST -o /dev/null -K - ;;`,
    "  *) exit 1 ;;",
    "esac",
    "",
  ].join("\n");
}

export async function startBmcs(opts: BmcsOptions): Promise<LocalBmcs> {
  const token = randomBytes(16).toString("hex");
  const faults = new Map<string, BmcFault>();
  let defaultFault: BmcFault = null;
  const faultOf = (host: string) => (faults.has(host) ? faults.get(host)! : defaultFault);
  const controls: LocalBmcs["controls"] = [];

  // The machines' power, for the chassis scripts only (the token is in their 0700 folders).
  const server = createServer((req, res) => {
    const m = /^\/([0-9a-f]+)\/([A-Za-z0-9._-]+)\/power(?:\/([01]))?$/.exec(req.url ?? "");
    const machine = m && m[1] === token ? opts.machines.get(m[2]!) : undefined;
    if (!m || !machine) {
      res.writeHead(404).end();
      return;
    }
    const host = m[2]!;
    if (req.method === "GET" && m[3] === undefined) {
      res.writeHead(200, { "content-type": "text/plain" }).end(`power:${machine.isOn() ? 1 : 0}\n`);
      return;
    }
    if (req.method === "POST" && m[3] !== undefined) {
      const power = m[3] === "1" ? "on" : "off";
      const fault = faultOf(host);
      controls.push({ host, power, at: new Date(), fault });
      if (fault?.mode === "fail") {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200).end();
      // hang: accepted, never carried out.
      if (fault?.mode !== "hang")
        void (power === "off" ? machine.off() : machine.on()).catch(() => undefined);
      return;
    }
    res.writeHead(405).end();
  });
  const { url } = await listenOnLoopback(server);

  const root = join(opts.dir, "bmc");
  mkdirSync(root, { recursive: true, mode: 0o750 });
  chownSync(root, 0, opts.gid);
  chmodSync(root, 0o750);

  interface Sim {
    bmc: LocalBmc;
    folder: string;
    child?: ChildProcess;
  }
  const sims = new Map<string, Sim>();
  let closed = false;

  const own = (path: string, mode: number) => {
    chownSync(path, opts.uid, opts.gid);
    chmodSync(path, mode);
  };

  /** Answers a power status with the real ipmitool (the password in its environment, -E). */
  const answers = (bmc: LocalBmc): Promise<boolean> =>
    new Promise((resolve) => {
      const probe = spawn(
        IPMITOOL,
        [
          "-I",
          "lanplus",
          "-C",
          "3",
          "-H",
          bmc.address,
          "-p",
          String(bmc.port),
          "-U",
          bmc.username,
          "-E",
          "-N",
          "1",
          "-R",
          "1",
          "chassis",
          "power",
          "status",
        ],
        { env: { PATH, IPMI_PASSWORD: bmc.password }, stdio: "ignore", timeout: 5000 },
      );
      probe.on("error", () => resolve(false));
      probe.on("close", (code) => resolve(code === 0));
    });

  /** Starts the simulator; a first start may move to another port when its port was taken meanwhile. */
  const launch = async (sim: Sim, how: { keepPort: boolean }): Promise<void> => {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    for (let attempt = 0; ; attempt++) {
      const conf = join(sim.folder, "lan.conf");
      writeFileSync(
        conf,
        lanConf(sim.bmc.host, sim.bmc.port, sim.bmc.password, join(sim.folder, "chassis.sh")),
      );
      own(conf, 0o600);
      const log = openSync(join(sim.folder, "ipmi_sim.log"), "a");
      const child = spawn(
        "setpriv",
        [
          "--pdeathsig",
          "SIGKILL",
          "--reuid",
          String(opts.uid),
          "--regid",
          String(opts.gid),
          "--clear-groups",
          "--",
          IPMI_SIM,
          "-c",
          conf,
          "-f",
          join(sim.folder, "cmds.emu"),
          "-s",
          join(sim.folder, "state"),
          "-n",
        ],
        { cwd: sim.folder, env: { PATH, HOME: sim.folder }, stdio: ["ignore", log, log], detached: true },
      );
      closeSync(log);
      sim.child = child;
      let exited = false;
      child.on("exit", () => {
        exited = true;
        if (sim.child === child) sim.child = undefined;
      });
      for (;;) {
        if (await answers(sim.bmc)) return;
        if (exited || Date.now() > deadline) break;
        await sleep(100);
      }
      if (!exited) kill(child);
      // Its port was taken meanwhile (another run's simulator, another test): a new one, unless the host
      // record already names this port (a restart): then the BMC is simply not back.
      if (how.keepPort || attempt >= 4 || Date.now() > deadline)
        throw new Error(
          `the BMC simulator of ${sim.bmc.host} did not answer on port ${sim.bmc.port}; see ${sim.folder}/ipmi_sim.log`,
        );
      sim.bmc.port = await freeUdpPort();
    }
  };

  const kill = (child: ChildProcess | undefined) => {
    if (child?.pid === undefined) return;
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };

  const stopSim = async (sim: Sim) => {
    const child = sim.child;
    if (!child) return;
    kill(child);
    while (child.exitCode === null && child.signalCode === null) await sleep(20);
  };

  try {
    await Promise.all(
      [...opts.machines.keys()].map(async (host) => {
        const folder = join(root, host);
        mkdirSync(folder, { recursive: true });
        own(folder, 0o700);
        mkdirSync(join(folder, "state"), { recursive: true });
        own(join(folder, "state"), 0o700);
        writeFileSync(join(folder, "chassis.sh"), chassisScript(`${url}/${token}/${host}/power`));
        own(join(folder, "chassis.sh"), 0o700);
        writeFileSync(join(folder, "cmds.emu"), EMU_COMMANDS);
        own(join(folder, "cmds.emu"), 0o600);
        const sim: Sim = {
          bmc: {
            host,
            address: "127.0.0.1",
            port: await freeUdpPort(),
            username: BMC_USERNAME,
            password: newPassword(),
          },
          folder,
        };
        sims.set(host, sim);
        await launch(sim, { keepPort: false });
      }),
    );
  } catch (e) {
    for (const sim of sims.values()) kill(sim.child);
    await closeServer(server).catch(() => undefined);
    throw e;
  }

  const simOf = (host: string): Sim => {
    const sim = sims.get(host);
    if (!sim) throw new Error(`no BMC for host ${host}`);
    return sim;
  };
  return {
    bmc: (host) => ({ ...simOf(host).bmc }),
    pid: (host) => simOf(host).child?.pid,
    stop: (host) => stopSim(simOf(host)),
    async start(host) {
      const sim = simOf(host);
      if (sim.child || closed) return;
      await launch(sim, { keepPort: true });
    },
    setFault(host, fault) {
      if (host === null) {
        defaultFault = fault;
        faults.clear();
      } else faults.set(host, fault);
    },
    controls,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...sims.values()].map(stopSim));
      await closeServer(server).catch(() => undefined);
    },
    closeSync() {
      closed = true;
      for (const sim of sims.values()) kill(sim.child);
    },
  };
}
