/**
 * A local machine's clock: its offset from the real time, in a file of the machine's folder that the host
 * agent's processes read (local/machine/clock-preload.ts, a preload of every lazarus-host process of the
 * host). A real host's clock drifts from the control plane's (chrony keeps it within a bound); the local
 * hosts share this machine's clock, so a skew is simulated: Date in those processes runs ahead (positive)
 * or behind (negative) by the offset. Timers are untouched, as a wall-clock skew leaves them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** The file holding the machine's clock offset in ms (absent or 0: the real time). */
export function machineClockFile(machineDir: string): string {
  return join(machineDir, "clock-offset-ms");
}

/** Sets the machine's clock offset; the host agent's processes see it within a fraction of a second. */
export function setMachineClockOffset(machineDir: string, offsetMs: number): void {
  if (!Number.isInteger(offsetMs)) throw new Error(`a clock offset is whole milliseconds, got ${offsetMs}`);
  writeFileSync(machineClockFile(machineDir), `${offsetMs}\n`, { mode: 0o644 });
}
