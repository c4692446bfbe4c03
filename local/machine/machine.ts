/**
 * A local host's machine: its power and its watchdog device, apart from anything the host's user runs.
 * Everything that turns a local host's power off or on goes through `MachinePower`: the cloud's
 * `killHost`/`restartHost`, the EC2 power fence, the watchdog device's reset, and a BMC (IPMI) simulator.
 *
 *   powerOff()  hard power off: every process of the host killed by pid and uid (SSM agent, lazarus-host,
 *               libvirtd, qemu: `LocalHost.kill`), at once, never through libvirtd; the watchdog device
 *               is gone with the power. Domain definitions and disks stay. No-op when already off.
 *   powerOn()   boot: after the boot delay the host starts what a booted host starts (libvirtd, the SSM
 *               agent, lazarus-host: `LocalHost.start`), nothing else (no guest autostarts); the watchdog
 *               device exists again, disarmed, until the agent opens it. Resolves once booted. No-op when
 *               on; joins a boot under way.
 *   reset()     power off, then power on (with the boot delay). A machine that is off stays off.
 *   state       "off" | "booting" | "on"
 *
 * Each boot has its kernel's boot id and boot time, in files the host agent reads as it reads
 * /proc/sys/kernel/random/boot_id and /proc/stat's btime on a real host (`machineBootFiles`).
 *
 * Every transition is written to `history` (with its cause), so a test can say when the node reset.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalHost } from "../hosts/local-host.js";
import { setMachineClockOffset } from "./clock.js";
import { WatchdogDevice } from "./watchdog-device.js";

export type PowerState = "off" | "booting" | "on";
/** Who asked: the cloud (a test's power loss), the power fence, the watchdog device, a BMC, the tear-down. */
export type PowerCause = "cloud" | "fence" | "watchdog" | "bmc" | "teardown";

export interface PowerEvent {
  at: number;
  action: "power-off" | "power-on" | "reset" | "booted";
  cause: PowerCause;
}

/**
 * A power controller's view of a machine (a BMC's chassis power, the EC2 fence's stop/start): what
 * `Machine.switchFor(cause)` hands it.
 */
export interface PowerSwitch {
  /** On while the machine runs, boots, or has not finished dying. */
  isOn(): boolean;
  /** Cuts the power; resolves once every process of the host is gone. */
  off(): Promise<void>;
  /** Restores the power; resolves once booted (libvirtd answers, the agents run). A no-op when on. */
  on(): Promise<void>;
}

/** The power of one machine: what a BMC, a fence and the watchdog device act on. */
export interface MachinePower {
  readonly state: PowerState;
  powerOff(cause?: PowerCause): Promise<void>;
  powerOn(cause?: PowerCause): Promise<void>;
  reset(cause?: PowerCause): Promise<void>;
}

export interface MachineOptions {
  host: LocalHost;
  /** The machine's own folder (root's): the watchdog device and its sysfs-like status live there. */
  dir: string;
  /** Wait between power on and the host's start, ms (a machine's POST and boot); default 0. */
  bootDelayMs?: number;
  /** The watchdog device's timeout, s (softdog's soft_margin); none = the machine has no watchdog. */
  watchdogTimeoutSeconds?: number;
  log?: (message: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Machine implements MachinePower {
  readonly host: LocalHost;
  readonly dir: string;
  readonly watchdog: WatchdogDevice | undefined;
  readonly history: PowerEvent[] = [];
  bootDelayMs: number;
  private _state: PowerState = "off";
  /** Bumped by every power off: a boot that sees another generation was cut. */
  private generation = 0;
  private booting: Promise<void> | undefined;
  /** Power-offs under way (their kill not finished): a controller still reads "on" meanwhile. */
  private dying = 0;
  private readonly log: (message: string) => void;

  constructor(opts: MachineOptions) {
    this.host = opts.host;
    this.dir = opts.dir;
    this.bootDelayMs = opts.bootDelayMs ?? 0;
    this.log = opts.log ?? (() => undefined);
    this.watchdog =
      opts.watchdogTimeoutSeconds !== undefined
        ? new WatchdogDevice({
            dir: opts.dir,
            ownerUid: opts.host.uid,
            timeoutSeconds: opts.watchdogTimeoutSeconds,
            log: (m) => this.log(`[${this.host.name}] ${m}`),
            onExpire: () => {
              void this.reset("watchdog").catch((e: unknown) =>
                this.log(
                  `[${this.host.name}] watchdog reset failed: ${e instanceof Error ? e.message : String(e)}`,
                ),
              );
            },
          })
        : undefined;
  }

  get state(): PowerState {
    return this._state;
  }

  /** Where the host's agent finds the watchdog (its configuration's `watchdog`), if the machine has one. */
  get watchdogPaths(): { device: string; sysfs: string } | undefined {
    return this.watchdog ? { device: this.watchdog.devicePath, sysfs: this.watchdog.sysfsDir } : undefined;
  }

  /**
   * The machine's wall clock runs `offsetMs` ahead (positive) or behind (negative) the real time, as the host
   * agent's processes see it (local/machine/clock.ts); 0 is the real time. It survives a reboot.
   */
  setClockOffset(offsetMs: number): void {
    setMachineClockOffset(this.dir, offsetMs);
  }

  /** The last time the machine went off for `cause` (epoch ms), if ever. */
  lastPowerOff(cause?: PowerCause): number | undefined {
    return this.history.findLast(
      (e) => (e.action === "power-off" || e.action === "reset") && (cause === undefined || e.cause === cause),
    )?.at;
  }

  /** This machine's power as a controller switches it, every change recorded with `cause`. */
  switchFor(cause: PowerCause): PowerSwitch {
    return {
      isOn: () => this._state !== "off" || this.dying > 0,
      off: () => this.powerOff(cause),
      on: () => this.powerOn(cause),
    };
  }

  async powerOff(cause: PowerCause = "cloud"): Promise<void> {
    if (this._state === "off" && !this.host.running) return;
    this.record("power-off", cause);
    await this.cut();
  }

  async powerOn(cause: PowerCause = "cloud"): Promise<void> {
    if (this._state === "on" && this.host.running) return;
    if (this.booting) return this.booting;
    this.record("power-on", cause);
    await this.boot(cause);
  }

  async reset(cause: PowerCause = "cloud"): Promise<void> {
    if (this._state === "off") return;
    this.record("reset", cause);
    await this.cut();
    await this.boot(cause);
  }

  private record(action: PowerEvent["action"], cause: PowerCause): void {
    this.history.push({ at: Date.now(), action, cause });
    this.log(`[${this.host.name}] ${action} (${cause})`);
  }

  private async cut(): Promise<void> {
    const generation = ++this.generation;
    this._state = "off";
    this.booting = undefined;
    // The device stops at once but says "inactive" only once the host's processes are gone: no heartbeat
    // may report the power cut or the reset's own device as disarmed (watchdog-device.ts `halt`).
    this.watchdog?.halt();
    this.dying++;
    try {
      await this.host.kill();
    } finally {
      this.dying--;
      if (generation === this.generation) this.watchdog?.stop();
    }
  }

  private boot(cause: PowerCause): Promise<void> {
    const generation = this.generation;
    this._state = "booting";
    const booting = (async () => {
      if (this.bootDelayMs > 0) await sleep(this.bootDelayMs);
      if (generation !== this.generation) return; // powered off meanwhile
      this.writeBootFiles();
      this.watchdog?.start();
      try {
        await this.host.start();
      } catch (e) {
        if (generation !== this.generation) return; // cut during the boot: the kill explains the failure
        throw e;
      }
      if (generation !== this.generation) return;
      this._state = "on";
      this.record("booted", cause);
    })();
    this.booting = booting;
    return booting.finally(() => {
      if (this.booting === booting) this.booting = undefined;
    });
  }

  /** A new kernel boot: a fresh boot id and this instant as the boot time (btime, whole seconds). */
  private writeBootFiles(): void {
    const files = machineBootFiles(this.dir);
    mkdirSync(join(this.dir, "proc", "sys", "kernel", "random"), { recursive: true, mode: 0o755 });
    writeFileSync(files.idFile, `${randomUUID()}\n`, { mode: 0o644 });
    writeFileSync(files.statFile, `btime ${Math.floor(Date.now() / 1000)}\n`, { mode: 0o644 });
  }

  /** Tear-down: off, and the device gone (no reset may follow). */
  async destroy(): Promise<void> {
    this.generation++;
    this.watchdog?.stop();
    this._state = "off";
  }
}

/** Where a machine's kernel says which boot this is (`boot_id`) and when it booted (`stat`'s btime line). */
export function machineBootFiles(dir: string): { idFile: string; statFile: string } {
  return {
    idFile: join(dir, "proc", "sys", "kernel", "random", "boot_id"),
    statFile: join(dir, "proc", "stat"),
  };
}

/** The machine folder of a host in a run folder: root's, beside (not inside) the host user's own folder. */
export function machineDir(runDir: string, hostFolder: string): string {
  return join(runDir, `m-${hostFolder}`);
}
