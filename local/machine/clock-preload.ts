/**
 * The machine's clock for a local host's agent processes: a Node preload (`node --import <this file>`) that
 * makes `Date` in the process run ahead or behind the real time by the offset in the file named by
 * $LAZARUS_LOCAL_CLOCK_FILE (local/machine/clock.ts writes it; removed from the environment here), read
 * again every 200 ms. What a host with a skewed wall clock has: every timestamp it makes (the heartbeat's,
 * the SigV4 date) is off by the skew; timers and monotonic time are not. Without the variable: nothing.
 * Plain Node (type stripping): no imports but Node's.
 */
import { readFileSync } from "node:fs";

const file = process.env.LAZARUS_LOCAL_CLOCK_FILE;
delete process.env.LAZARUS_LOCAL_CLOCK_FILE;
if (file) {
  let offsetMs = 0;
  const read = () => {
    try {
      const n = Number(readFileSync(file, "utf8").trim());
      offsetMs = Number.isInteger(n) ? n : 0;
    } catch {
      offsetMs = 0; // no file: the real time
    }
  };
  read();
  setInterval(read, 200).unref();
  const Real = Date;
  const now = () => Real.now() + offsetMs;
  // Called as a function Date() gives a string; constructed without arguments, the skewed now.
  function MachineDate(this: unknown, ...args: unknown[]): unknown {
    if (!new.target) return new Real(now()).toString();
    return args.length === 0 ? new Real(now()) : Reflect.construct(Real, args);
  }
  Object.setPrototypeOf(MachineDate, Real);
  Object.defineProperty(MachineDate, "prototype", { value: Real.prototype });
  Object.defineProperty(MachineDate, "now", { value: now, writable: true, configurable: true });
  globalThis.Date = MachineDate as unknown as DateConstructor;
}
