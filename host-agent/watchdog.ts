/**
 * The watchdog feeder, over the kernel's watchdog device interface (Documentation/watchdog/watchdog-api.rst):
 *  - opening the device arms it (and is the first ping); it is opened only after an accepted heartbeat;
 *  - every write pings it; the agent writes only after an accepted heartbeat (`feed`);
 *  - closing it after writing 'V' (magic close) disarms it: done only on a deliberate stop (`disarm`);
 *  - closing it any other way (the process dies) leaves it counting: unfed for its timeout, the node resets.
 * A write that fails is not retried in place: the device is closed without 'V' (it keeps counting) and
 * opened again at the next accepted heartbeat; if that cannot be done in time, the node resets.
 *
 * The heartbeat's value is read from the device's sysfs folder (`state`, `timeout`), never from the
 * configuration: the timeout in whole seconds while `state` is `active` **and this process armed it** (its
 * open succeeded, and no magic close since), else 0. A device armed by someone else (PID 1 with
 * RuntimeWatchdogSec, another daemon: the open fails with EBUSY) is fed whether or not the control plane
 * takes heartbeats, so it proves nothing; a device this process armed and then lost (a write failed) still
 * counts from this process's last feed, so it still does.
 */
import { closeSync, constants, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** What the kernel reports for the device: armed (active) with this timeout, or not. */
export interface WatchdogStatus {
  active: boolean;
  /** Seconds, as the kernel reports them; null when the folder has no readable timeout. */
  timeoutSeconds: number | null;
}

/** Reads `<sysfs>/state` and `<sysfs>/timeout`; a folder that cannot be read says "not armed". */
export function readWatchdogStatus(sysfsDir: string): WatchdogStatus {
  const read = (name: string) => {
    try {
      return readFileSync(join(sysfsDir, name), "utf8").trim();
    } catch {
      return null;
    }
  };
  const state = read("state");
  const timeout = read("timeout");
  const seconds = timeout !== null && /^\d+$/.test(timeout) ? Number(timeout) : null;
  return { active: state === "active", timeoutSeconds: seconds };
}

/**
 * The heartbeat's value (shared/definitions/heartbeat.ts): the device's timeout while it is active and
 * `armedByUs` (this process armed it: see the file's comment), else 0.
 */
export function heartbeatValue(status: WatchdogStatus, armedByUs: boolean): number {
  return armedByUs && status.active && status.timeoutSeconds !== null && status.timeoutSeconds > 0
    ? status.timeoutSeconds
    : 0;
}

export class WatchdogFeeder {
  private fd: number | undefined;
  private armed = false;

  constructor(readonly device: string) {}

  get open(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Whether this process armed the device: its open succeeded and it has not disarmed it since. Stays true
   * when the device was abandoned (a write failed): it keeps counting from this process's last feed.
   */
  get armedByUs(): boolean {
    return this.armed;
  }

  /**
   * One feed after an accepted heartbeat: opens the device if it is not open (which arms it), else writes
   * to it. Throws when the device cannot be opened or written; it is then closed without 'V'.
   */
  feed(): void {
    if (this.fd === undefined) {
      // O_NONBLOCK: never hang in open (a watchdog device ignores it; a FIFO without a reader refuses).
      this.fd = openSync(this.device, constants.O_WRONLY | constants.O_NONBLOCK);
      this.armed = true;
      return;
    }
    try {
      writeSync(this.fd, ".");
    } catch (e) {
      this.abandon();
      throw e;
    }
  }

  /** Closes the device without the magic character: it keeps counting (the node resets unless fed again). */
  abandon(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // closed either way
    }
    this.fd = undefined;
  }

  /** Magic close: 'V', then close. The device disarms (unless its driver was loaded with nowayout). */
  disarm(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      writeSync(fd, "V");
      this.armed = false;
    } finally {
      closeSync(fd);
    }
  }
}
