/**
 * A HostExecutor fake at the interface, for the inventory core's unit tests: it holds a host's domains
 * (XML, state, autostart) and image files (backing chains), answers the host documents the core sends the
 * way their scripts answer (virsh 9 / qemu-img output), and records every command. A document it does not
 * know fails the test loudly.
 */
import { gzipSync } from "node:zlib";
import { HostCommandFailed } from "#shared/domain/errors.js";
import type { HostCommand, HostExecutor, HostTarget, RunOptions, RunResult } from "#shared/hosts/executor.js";

export interface FakeDomain {
  uuid: string;
  name: string;
  xml: string;
  /** virsh state string: running, shut off, paused, ... */
  state: string;
  autostart: boolean;
  persistent?: boolean;
  vcpus?: number;
  memoryKiB?: number;
}

export interface FakeImage {
  format: "qcow2" | "raw";
  virtualSizeBytes: number;
  /** Path of the backing file (must be a FakeImage too), if any. */
  backing?: string;
}

export interface HostFacts {
  cpus: number;
  memoryKiB: number;
  domainTypes: string[];
  settings: Record<string, unknown> | null;
  /** Folders that exist; others are reported missing. */
  folders: string[];
  fsBytes: number;
}

function section(name: string, text: string, gz = false): string {
  return `\n@@lazarus-section ${name}${gz ? " gz" : ""}\n${gz ? gzipSync(Buffer.from(text)).toString("base64") : text}\n`;
}
const END = "\n@@lazarus-section end\n";

export class RecordingHost implements HostExecutor {
  readonly commands: ({ host: string } & HostCommand)[] = [];
  readonly domains = new Map<string, FakeDomain>();
  readonly images = new Map<string, FakeImage>();
  /** Commands matching this fail (exit 1) — a fault made to happen at the interface. */
  failWhen: ((command: HostCommand) => boolean) | null = null;
  /** Runs before the answer to a command (a test's hook, e.g. to break the store mid-adoption). */
  onCommand: ((command: HostCommand) => Promise<void>) | null = null;
  facts: HostFacts = {
    cpus: 8,
    memoryKiB: 16 * 1024 * 1024,
    domainTypes: ["qemu"],
    settings: null,
    folders: [],
    fsBytes: 100 * 1024 ** 3,
  };

  addDomain(d: FakeDomain): void {
    this.domains.set(d.uuid, d);
  }

  addImage(path: string, image: FakeImage): void {
    this.images.set(path, image);
  }

  /** The commands sent of one document. */
  commandsOf(document: string): HostCommand[] {
    return this.commands.filter((c) => c.document === document);
  }

  async probe(host: HostTarget, command: HostCommand, options?: RunOptions): Promise<RunResult> {
    return this.run(host, command, options);
  }

  async run(host: HostTarget, command: HostCommand, _options?: RunOptions): Promise<RunResult> {
    this.commands.push({ host: host.name, ...command });
    if (this.onCommand) await this.onCommand(command);
    if (this.failWhen?.(command)) {
      throw new HostCommandFailed(`host ${host.name}: command exited 1: error: injected`, {
        exitCode: 1,
        stderr: "error: injected",
      });
    }
    return { exitCode: 0, stdout: this.answer(command), stderr: "" };
  }

  private answer({ document, parameters: p }: HostCommand): string {
    const list = (name: string) => (p[name] ?? "").split(" ").filter(Boolean);
    switch (document) {
      case "read-host-facts":
        return this.hostFacts();
      case "check-storage": {
        const missing = list("folders").filter((f) => !this.facts.folders.includes(f));
        return `${missing.map((m) => `missing ${m}\n`).join("")}1B-blocks\n${this.facts.fsBytes}\n`;
      }
      case "disable-autostart":
        for (const uuid of list("uuids")) {
          const d = this.domains.get(uuid);
          if (!d) throw new HostCommandFailed(`no domain ${uuid}`, { exitCode: 1 });
          d.autostart = false;
        }
        return "";
      case "list-domain-states":
        return [...this.domains.values()].map((d) => `${d.uuid}\t${d.state}\n`).join("");
      case "read-domain": {
        const d = this.domains.get(p.uuid!);
        if (!d) throw new HostCommandFailed(`error: failed to get domain '${p.uuid}'`, { exitCode: 1 });
        return section("dominfo", this.dominfo(d)) + section("xml", d.xml, true) + END;
      }
      case "read-disk-chains":
        return (
          list("paths")
            .map((path, i) => section(`disk-${i}`, this.chainJson(path), true))
            .join("") + END
        );
      case "list-domains":
        return [...this.domains.keys()].map((u) => `${u}\n`).join("");
    }
    throw new Error(`RecordingHost: no answer for document ${document} (${JSON.stringify(p)})`);
  }

  private dominfo(d: FakeDomain): string {
    return [
      `Id:             ${d.state === "running" ? "3" : "-"}`,
      `Name:           ${d.name}`,
      `UUID:           ${d.uuid}`,
      "OS Type:        hvm",
      `State:          ${d.state}`,
      `CPU(s):         ${d.vcpus ?? 1}`,
      `Max memory:     ${d.memoryKiB ?? 65536} KiB`,
      `Used memory:    ${d.memoryKiB ?? 65536} KiB`,
      `Persistent:     ${d.persistent === false ? "no" : "yes"}`,
      `Autostart:      ${d.autostart ? "enable" : "disable"}`,
      "Managed save:   no",
      "Security model: none",
      "Security DOI:   0",
      "",
    ].join("\n");
  }

  private chainJson(path: string): string {
    if (!this.images.has(path)) return "null";
    const chain: Record<string, unknown>[] = [];
    let p: string | undefined = path;
    while (p !== undefined) {
      const img = this.images.get(p);
      if (!img) throw new Error(`RecordingHost: backing file ${p} not defined`);
      chain.push({
        filename: p,
        format: img.format,
        "virtual-size": img.virtualSizeBytes,
        "actual-size": 200_704,
        ...(img.backing
          ? {
              "backing-filename": img.backing,
              "full-backing-filename": img.backing,
              "backing-filename-format": "qcow2",
            }
          : {}),
        "dirty-flag": false,
      });
      p = img.backing;
    }
    return JSON.stringify(chain, null, 4);
  }

  private hostFacts(): string {
    const f = this.facts;
    const nodeinfo = [
      "CPU model:           x86_64",
      `CPU(s):              ${f.cpus}`,
      "CPU frequency:       2000 MHz",
      "CPU socket(s):       1",
      `Core(s) per socket:  ${f.cpus}`,
      "Thread(s) per core:  1",
      "NUMA cell(s):        1",
      `Memory size:         ${f.memoryKiB} KiB`,
      "",
    ].join("\n");
    const caps = `<capabilities>
  <host><uuid>00000000-0000-0000-0000-000000000001</uuid><cpu><arch>x86_64</arch></cpu></host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'><wordsize>64</wordsize><emulator>/usr/bin/qemu-system-x86_64</emulator>
${f.domainTypes.map((t) => `      <domain type='${t}'/>`).join("\n")}
    </arch>
  </guest>
</capabilities>`;
    return (
      section("nodeinfo", nodeinfo) +
      section("capabilities", caps, true) +
      section("config", f.settings ? JSON.stringify(f.settings) : "") +
      END
    );
  }
}
