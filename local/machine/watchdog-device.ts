/**
 * A simulated watchdog device with the kernel's semantics (drivers/watchdog/watchdog_dev.c), part of the
 * machine and not of the host's user space: it lives in the local cloud's own (root) process, and its
 * files are root's.
 *
 *   <dir>/dev/watchdog                          a FIFO the host's agent opens and writes, as /dev/watchdog
 *   <dir>/sys/class/watchdog/watchdog0/state    "active" / "inactive"      (root's, readable by all)
 *   <dir>/sys/class/watchdog/watchdog0/timeout  the timeout in seconds
 *
 * - open (a writer appears on the FIFO) arms it and counts as a ping; every write is a ping;
 * - close without the magic character: it keeps counting ("watchdog did not stop!");
 * - 'V' in the last write before close: disarmed (state inactive), as magic close does without nowayout;
 * - unfed for `timeoutSeconds`: `onExpire` (the machine resets: every process of the host killed by pid and
 *   uid, qemu and libvirtd included, never through libvirtd; see machine.ts).
 * Killing every process of the host's user only closes the writer without 'V': the device keeps counting.
 *
 * The FIFO is read without blocking every `pollMs`: a read that finds no writer answers end-of-file, one
 * that finds a writer with nothing written answers EAGAIN; so the device sees opens and closes too. Unlike
 * the kernel's device it cannot refuse a second opener (EBUSY); the agent opens it once.
 *
 * `breakFeeds()` is a device fault: the device stops taking writes (the FIFO's reader is closed, so a write
 * fails with EPIPE and an open with ENXIO) while it stays armed and counting: the node resets unless fed.
 * The fault lasts until the machine is powered off.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

export type WatchdogState = "active" | "inactive";

export interface WatchdogDeviceOptions {
  /** The machine's folder (root's); the device and its status folder are created under it. */
  dir: string;
  /** The uid allowed to open the device (the host's user: on a real host, root runs the agent). */
  ownerUid: number;
  timeoutSeconds: number;
  /** Called once when the device expires (unfed for the timeout while armed). */
  onExpire: (unfedMs: number) => void;
  log: (message: string) => void;
  pollMs?: number;
}

/** Where a machine's watchdog device and its sysfs-like folder are, under the machine's folder. */
export function watchdogDevicePaths(machineDir: string): { device: string; sysfs: string } {
  return {
    device: join(machineDir, "dev", "watchdog"),
    sysfs: join(machineDir, "sys", "class", "watchdog", "watchdog0"),
  };
}

export class WatchdogDevice {
  readonly devicePath: string;
  readonly sysfsDir: string;
  private fd: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writerOpen = false;
  private allowRelease = false;
  private _state: WatchdogState = "inactive";
  private lastPing = 0;
  private broken = false;
  private readonly buf = Buffer.alloc(4096);

  constructor(private readonly opts: WatchdogDeviceOptions) {
    const paths = watchdogDevicePaths(opts.dir);
    this.devicePath = paths.device;
    this.sysfsDir = paths.sysfs;
  }

  get state(): WatchdogState {
    return this._state;
  }

  get timeoutSeconds(): number {
    return this.opts.timeoutSeconds;
  }

  /** Epoch ms of the last ping (open or write) while armed; 0 before any. */
  get lastPingAt(): number {
    return this.lastPing;
  }

  /** The machine powers on: the device exists, disarmed, until the agent opens it. */
  start(): void {
    if (this.timer) return;
    const dev = join(this.opts.dir, "dev");
    mkdirSync(dev, { recursive: true, mode: 0o755 });
    mkdirSync(this.sysfsDir, { recursive: true, mode: 0o755 });
    rmSync(this.devicePath, { force: true });
    const r = spawnSync("mkfifo", ["-m", "0600", this.devicePath], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mkfifo ${this.devicePath}: ${r.stderr || r.error}`);
    chownSync(this.devicePath, this.opts.ownerUid, 0);
    chmodSync(this.devicePath, 0o600);
    this.broken = false;
    this.writerOpen = false;
    this.allowRelease = false;
    this.setState("inactive");
    this.fd = openSync(this.devicePath, constants.O_RDONLY | constants.O_NONBLOCK);
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 50);
    this.timer.unref();
  }

  /**
   * The device stops acting (no more reads, no expiry), its sysfs left as it is: what the machine does at the
   * instant of a reset or a power cut, before its processes are gone. A real reset stops every process at
   * once, so none can read the device inactive and say so in a heartbeat (a last heartbeat saying 0 would
   * take the lease away from a host the watchdog did reset); the machine calls `stop` once they are gone.
   */
  halt(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closeReader();
    this.writerOpen = false;
  }

  /** The machine has lost power: no device, nothing armed (a booted machine's watchdog starts inactive). */
  stop(): void {
    this.halt();
    this._state = "inactive";
    try {
      this.setState("inactive");
    } catch {
      // the machine's folder is gone (tear-down): nothing left to report to
    }
  }

  /** Fault: writes to the device fail from now on (it stays armed and counting); see the file's comment. */
  breakFeeds(): void {
    this.broken = true;
    this.closeReader();
    this.opts.log("watchdog: device fault: feeds fail from now on");
  }

  private closeReader(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private poll(): void {
    if (this.fd !== undefined) this.readWrites(this.fd);
    if (this._state === "active") {
      const unfed = Date.now() - this.lastPing;
      if (unfed >= this.opts.timeoutSeconds * 1000) {
        this.opts.log(
          `watchdog: not fed for ${unfed} ms (timeout ${this.opts.timeoutSeconds} s): resetting the node`,
        );
        // Halted, not stopped: the sysfs still says "active" until the machine has killed the host's
        // processes (halt's comment).
        this.halt();
        this.opts.onExpire(unfed);
      }
    }
  }

  private readWrites(fd: number): void {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
          if (!this.writerOpen) this.opened();
          return; // a writer holds the device, nothing written since the last look
        }
        throw e;
      }
      if (n === 0) {
        if (this.writerOpen) this.closed();
        return;
      }
      if (!this.writerOpen) this.opened();
      // Kernel: each write clears the release permission and sets it again if it holds a 'V'.
      this.allowRelease = this.buf.subarray(0, n).includes(0x56);
      this.ping();
    }
  }

  private opened(): void {
    this.writerOpen = true;
    this.allowRelease = false;
    if (this._state === "inactive")
      this.opts.log(`watchdog: opened: armed, timeout ${this.opts.timeoutSeconds} s`);
    this.setState("active");
    this.ping();
  }

  private closed(): void {
    this.writerOpen = false;
    if (this.allowRelease && !this.broken) {
      this.opts.log("watchdog: magic close: disarmed");
      this.setState("inactive");
    } else {
      this.opts.log("watchdog: closed without the magic character: still counting");
    }
    this.allowRelease = false;
  }

  private ping(): void {
    this.lastPing = Date.now();
  }

  private setState(state: WatchdogState): void {
    this._state = state;
    writeStatusFile(this.sysfsDir, "state", state);
    writeStatusFile(this.sysfsDir, "timeout", String(this.opts.timeoutSeconds));
    writeStatusFile(this.sysfsDir, "identity", "Lazarus simulated watchdog");
    writeStatusFile(this.sysfsDir, "nowayout", "0");
  }
}

/** One sysfs-like attribute: root's, world-readable, replaced whole (a reader never sees half of it). */
function writeStatusFile(dir: string, name: string, value: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, `${value}\n`, { mode: 0o644 });
  renameSync(tmp, join(dir, name));
}
