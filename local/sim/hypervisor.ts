/**
 * The hypervisor of the simulated hosts: libvirt's domains and qemu's image locks, in memory, answering the
 * `virsh` and `qemu-img` invocations of the hosts' real commands. A simulated host runs the very scripts
 * (or SSM documents) a real host gets through the local SSM endpoint, with `bash`, on real files in its own
 * folders; only `virsh` and `qemu-img` on its PATH are this model's clients (`clientScript`), one small bash
 * script each that sends its arguments to this process over loopback and prints the answer. So the model
 * answers hypervisor operations (define, start, destroy, undefine, list, domstate, ...), never a script's
 * text, and stays right whatever builds the commands.
 *
 * What it keeps per host: each domain's uuid, name, state (running / shut off), definition and disks, and
 * autostart. Across hosts: which running domain holds each disk (qemu's write lock: a start of a domain
 * whose disk another running domain holds is refused with qemu's own words, as on a shared pool). A host
 * that loses power loses its running domains (they stay defined, shut off) and their locks. Each operation
 * takes its latency (`SimLatency`), `virsh start` also waits for a slot of the host's libvirtd (a host starts
 * at most `startConcurrency` domains at once).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";

/** Milliseconds each operation takes (the model answers after this long). */
export interface SimLatency {
  define: number;
  start: number;
  destroy: number;
  undefine: number;
  /** list, domstate, dominfo, dumpxml, autostart, domuuid, ... */
  read: number;
  qemuImg: number;
  /** Domains one host starts at once (more wait for a slot). */
  startConcurrency: number;
}

/** About what the real hosts of this machine take with a few domains starting at once (bench/RESULTS.md). */
export const DEFAULT_SIM_LATENCY: SimLatency = {
  define: 40,
  start: 600,
  destroy: 80,
  undefine: 30,
  read: 5,
  qemuImg: 60,
  startConcurrency: 2,
};

export type SimDomainState = "running" | "shut off";

export interface SimDomain {
  uuid: string;
  name: string;
  state: SimDomainState;
  xml: string;
  disks: string[];
  autostart: boolean;
}

interface SimHostState {
  name: string;
  token: string;
  powered: boolean;
  domains: Map<string, SimDomain>;
  /** Starts in progress, and those waiting for a slot. */
  starting: number;
  waiting: (() => void)[];
}

export interface SimAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

const ok = (stdout = ""): SimAnswer => ({ code: 0, stdout, stderr: "" });
const fail = (stderr: string, code = 1): SimAnswer => ({ code, stdout: "", stderr });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The domain's uuid, name and disk sources from its definition (the XML Lazarus writes, or libvirt's). */
export function describeDomainXml(xml: string): { uuid: string; name: string; disks: string[] } | null {
  const uuid = /<uuid>\s*([0-9a-fA-F-]{36})\s*<\/uuid>/.exec(xml)?.[1];
  const name = /<name>\s*([^<]+?)\s*<\/name>/.exec(xml)?.[1];
  if (!uuid || !name || !UUID.test(uuid)) return null;
  const disks = [...xml.matchAll(/<source\s+file=(["'])([^"']+)\1/g)].map((m) => m[2]!);
  return { uuid: uuid.toLowerCase(), name, disks };
}

export class SimHypervisors {
  private readonly hosts = new Map<string, SimHostState>();
  private readonly byToken = new Map<string, SimHostState>();
  /** Disk path -> the running domain that holds its write lock. */
  private readonly locks = new Map<string, { host: string; uuid: string }>();
  /** Operations answered, by tool and verb (`virsh start`, ...). */
  readonly counts: Record<string, number> = {};
  private server: Server | undefined;
  port = 0;

  constructor(public latency: SimLatency = DEFAULT_SIM_LATENCY) {}

  /** Adds a host (powered on, no domains); returns the token its commands present. */
  addHost(name: string): string {
    const token = randomBytes(12).toString("hex");
    const state: SimHostState = { name, token, powered: true, domains: new Map(), starting: 0, waiting: [] };
    this.hosts.set(name, state);
    this.byToken.set(token, state);
    return token;
  }

  private host(name: string): SimHostState {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no simulated host ${name}`);
    return h;
  }

  /** A domain defined (and running, if asked) without any command: seeding a fleet. */
  seedDomain(host: string, d: Omit<SimDomain, "autostart">): void {
    const h = this.host(host);
    h.domains.set(d.uuid, { ...d, autostart: false });
    if (d.state === "running") for (const disk of d.disks) this.locks.set(disk, { host, uuid: d.uuid });
  }

  /** Power lost: every running domain stops (stays defined), its disks are free. */
  powerOff(host: string): void {
    const h = this.host(host);
    h.powered = false;
    for (const d of h.domains.values()) this.stopDomain(h, d);
  }

  powerOn(host: string): void {
    this.host(host).powered = true;
  }

  isPowered(host: string): boolean {
    return this.host(host).powered;
  }

  domains(host: string): SimDomain[] {
    return [...this.host(host).domains.values()];
  }

  /** Every host whose hypervisor runs `uuid` now (more than one would be a split brain). */
  runningOn(uuid: string): string[] {
    const id = uuid.toLowerCase();
    return [...this.hosts.values()]
      .filter((h) => h.powered && h.domains.get(id)?.state === "running")
      .map((h) => h.name);
  }

  private stopDomain(h: SimHostState, d: SimDomain): void {
    d.state = "shut off";
    for (const disk of d.disks) {
      const holder = this.locks.get(disk);
      if (holder?.host === h.name && holder.uuid === d.uuid) this.locks.delete(disk);
    }
  }

  private async slot(h: SimHostState): Promise<() => void> {
    while (h.starting >= this.latency.startConcurrency) await new Promise<void>((r) => h.waiting.push(r));
    h.starting++;
    return () => {
      h.starting--;
      h.waiting.shift()?.();
    };
  }

  /** One invocation of `tool` (virsh, qemu-img) with `args` on the host whose token it presents. */
  async run(token: string, tool: string, args: string[]): Promise<SimAnswer> {
    const h = this.byToken.get(token);
    if (!h) return fail("error: failed to connect to the hypervisor (unknown host)");
    if (!h.powered) return fail("error: failed to connect to the hypervisor");
    if (tool === "virsh") return this.virsh(h, args);
    if (tool === "qemu-img") return this.qemuImg(args);
    return fail(`${tool}: not simulated`, 127);
  }

  private count(key: string): void {
    this.counts[key] = (this.counts[key] ?? 0) + 1;
  }

  private async virsh(h: SimHostState, argv: string[]): Promise<SimAnswer> {
    // Connection options are the host's own libvirt whatever they say.
    const args: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === "-q" || a === "--quiet" || a === "-r" || a === "--readonly") continue;
      if (a === "-c" || a === "--connect") {
        i++;
        continue;
      }
      args.push(a);
    }
    const [verb = "", ...rest] = args;
    this.count(`virsh ${verb}`);
    const find = (ref: string | undefined) => {
      if (!ref) return undefined;
      const byUuid = h.domains.get(ref.toLowerCase());
      return byUuid ?? [...h.domains.values()].find((d) => d.name === ref);
    };
    const missing = (ref: string | undefined) =>
      fail(`error: failed to get domain '${ref ?? ""}'\nerror: Domain not found`);
    switch (verb) {
      case "list": {
        await sleep(this.latency.read);
        const all = rest.includes("--all");
        const inactive = rest.includes("--inactive");
        const picked = [...h.domains.values()].filter((d) =>
          all ? true : inactive ? d.state !== "running" : d.state === "running",
        );
        // virsh list --uuid/--name: one per line, then an empty line.
        if (rest.includes("--uuid")) return ok(`${picked.map((d) => `${d.uuid}\n`).join("")}\n`);
        if (rest.includes("--name")) return ok(`${picked.map((d) => `${d.name}\n`).join("")}\n`);
        return ok(
          [
            " Id   Name   State",
            "----------------------",
            ...picked.map((d, i) => ` ${d.state === "running" ? i + 1 : "-"}    ${d.name}   ${d.state}`),
            "",
          ].join("\n"),
        );
      }
      case "domstate": {
        await sleep(this.latency.read);
        const d = find(rest.find((a) => !a.startsWith("-")));
        return d ? ok(`${d.state}\n\n`) : missing(rest[0]);
      }
      case "domuuid": {
        await sleep(this.latency.read);
        const d = find(rest[0]);
        return d ? ok(`${d.uuid}\n\n`) : missing(rest[0]);
      }
      case "dominfo": {
        await sleep(this.latency.read);
        const d = find(rest[0]);
        if (!d) return missing(rest[0]);
        return ok(
          [
            `Id:             ${d.state === "running" ? "1" : "-"}`,
            `Name:           ${d.name}`,
            `UUID:           ${d.uuid}`,
            "OS Type:        hvm",
            `State:          ${d.state}`,
            "CPU(s):         1",
            "Max memory:     65536 KiB",
            "Used memory:    65536 KiB",
            "Persistent:     yes",
            `Autostart:      ${d.autostart ? "enable" : "disable"}`,
            "Managed save:   no",
            "Security model: none",
            "Security DOI:   0",
            "",
          ].join("\n"),
        );
      }
      case "dumpxml": {
        await sleep(this.latency.read);
        const d = find(rest.find((a) => !a.startsWith("-")));
        return d ? ok(`${d.xml}\n`) : missing(rest[0]);
      }
      case "define": {
        await sleep(this.latency.define);
        const path = rest.find((a) => !a.startsWith("-"));
        let xml: string;
        try {
          xml = readFileSync(path ?? "", "utf8");
        } catch (e) {
          return fail(`error: Failed to open file '${path}': ${(e as Error).message}`);
        }
        const desc = describeDomainXml(xml);
        if (!desc) return fail("error: Failed to define domain from XML: no uuid or name");
        const existing = h.domains.get(desc.uuid);
        h.domains.set(desc.uuid, {
          ...desc,
          state: existing?.state ?? "shut off",
          xml,
          autostart: existing?.autostart ?? false,
        });
        return ok(`Domain '${desc.name}' defined from ${path}\n\n`);
      }
      case "start": {
        const d = find(rest.find((a) => !a.startsWith("-")));
        if (!d) return missing(rest[0]);
        if (d.state === "running")
          return fail(
            "error: Failed to start domain\nerror: Requested operation is not valid: domain is already active",
          );
        const release = await this.slot(h);
        try {
          await sleep(this.latency.start);
          if (!h.powered) return fail("error: failed to connect to the hypervisor");
          if ((d.state as SimDomainState) === "running")
            return fail("error: Requested operation is not valid: domain is already active");
          for (const disk of d.disks) {
            const holder = this.locks.get(disk);
            if (holder && !(holder.host === h.name && holder.uuid === d.uuid)) {
              return fail(
                `error: Failed to start domain '${d.name}'\nerror: internal error: process exited while connecting to monitor: qemu-system-x86_64: -blockdev {"driver":"file","filename":"${disk}"}: Failed to get "write" lock\nIs another process using the image [${disk}]?`,
              );
            }
          }
          for (const disk of d.disks) this.locks.set(disk, { host: h.name, uuid: d.uuid });
          d.state = "running";
          return ok(`Domain '${d.name}' started\n\n`);
        } finally {
          release();
        }
      }
      case "destroy": {
        await sleep(this.latency.destroy);
        const d = find(rest[0]);
        if (!d) return missing(rest[0]);
        if (d.state !== "running")
          return fail(
            "error: Failed to destroy domain\nerror: Requested operation is not valid: domain is not running",
          );
        this.stopDomain(h, d);
        return ok(`Domain '${d.name}' destroyed\n\n`);
      }
      case "shutdown": {
        // A guest with no OS never acknowledges ACPI: the request is taken, the domain keeps running.
        await sleep(this.latency.read);
        const d = find(rest[0]);
        if (!d) return missing(rest[0]);
        if (d.state !== "running")
          return fail("error: Requested operation is not valid: domain is not running");
        return ok(`Domain '${d.name}' is being shutdown\n\n`);
      }
      case "undefine": {
        await sleep(this.latency.undefine);
        const d = find(rest[0]);
        if (!d) return missing(rest[0]);
        // A running domain undefined becomes transient in libvirt; Lazarus never does it (ensureUndefined).
        if (d.state === "running") return fail("error: Refusing to undefine a running domain (simulated)");
        h.domains.delete(d.uuid);
        return ok(`Domain '${d.name}' has been undefined\n\n`);
      }
      case "autostart": {
        await sleep(this.latency.read);
        const d = find(rest.find((a) => !a.startsWith("-")));
        if (!d) return missing(rest[0]);
        d.autostart = !rest.includes("--disable");
        return ok(
          `Domain '${d.name}' ${d.autostart ? "marked as autostarted" : "unmarked as autostarted"}\n\n`,
        );
      }
      case "domblklist": {
        await sleep(this.latency.read);
        const d = find(rest.find((a) => !a.startsWith("-")));
        if (!d) return missing(rest[0]);
        const rows = d.disks.map((p, i) => ` file   disk     vd${String.fromCharCode(97 + i)}     ${p}`);
        return ok(
          [" Type   Device   Target   Source", "----------------------------------", ...rows, ""].join("\n"),
        );
      }
      default:
        return fail(`error: virsh ${verb}: not simulated`);
    }
  }

  private async qemuImg(argv: string[]): Promise<SimAnswer> {
    const [verb = "", ...rest] = argv;
    this.count(`qemu-img ${verb}`);
    await sleep(this.latency.qemuImg);
    if (verb === "create") {
      // qemu-img create [-q] [-f FMT] [-b BASE] [-F FMT] PATH [SIZE]
      const positional: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i]!;
        if (a === "-f" || a === "-b" || a === "-F" || a === "-o") i++;
        else if (!a.startsWith("-")) positional.push(a);
      }
      const path = positional[0];
      if (!path) return fail("qemu-img: Expecting image file name");
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, "");
      } catch (e) {
        return fail(`qemu-img: ${path}: ${(e as Error).message}`);
      }
      return ok();
    }
    if (verb === "info") {
      const path = rest.filter((a) => !a.startsWith("-")).at(-1) ?? "";
      if (!existsSync(path)) return fail(`qemu-img: Could not open '${path}': No such file or directory`);
      const info = {
        "virtual-size": 1073741824,
        filename: path,
        format: "qcow2",
        "actual-size": statSync(path).size,
        "dirty-flag": false,
      };
      return ok(`${JSON.stringify(rest.includes("--backing-chain") ? [info] : info, null, 4)}\n`);
    }
    return fail(`qemu-img ${verb}: not simulated`);
  }

  /** Serves the clients on loopback (one connection per invocation). */
  async listen(): Promise<number> {
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
    return this.port;
  }

  /** Request: NUL-terminated token, tool, argument count, arguments. Answer: `o `/`e ` lines, then `x CODE`. */
  private serve(socket: Socket): void {
    let buf = Buffer.alloc(0);
    let done = false;
    socket.on("error", () => undefined);
    socket.on("data", (chunk) => {
      if (done) return;
      buf = Buffer.concat([buf, chunk]);
      const parts: string[] = [];
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        if (buf[i] === 0) {
          parts.push(buf.subarray(start, i).toString("utf8"));
          start = i + 1;
        }
      }
      if (parts.length < 3) return;
      const n = Number(parts[2]);
      if (!Number.isInteger(n) || parts.length < 3 + n) return;
      done = true;
      void this.run(parts[0]!, parts[1]!, parts.slice(3, 3 + n)).then((a) => {
        const lines = [
          ...lines_(a.stdout).map((l) => `o ${l}`),
          ...lines_(a.stderr).map((l) => `e ${l}`),
          `x ${a.code}`,
        ];
        socket.end(`${lines.join("\n")}\n`);
      });
    });
  }

  /** The client script for `tool` that a simulated host finds first on its PATH (local/sim/client.sh). */
  static clientScript(tool: "virsh" | "qemu-img"): string {
    return readFileSync(new URL("./client.sh", import.meta.url), "utf8").replaceAll("@TOOL@", tool);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** The lines of an output, without the empty one after its last newline. */
function lines_(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}
