/**
 * A local host's power, as its power controllers (the simulated BMC, the local EC2 endpoint) switch it:
 * off is a power loss (every process of the host, qemu and libvirtd included, killed by pid and uid;
 * LocalHost.kill), on brings the machine back (libvirtd and the agent start; nothing is autostarted:
 * LocalHost.start). This is the one place the local power controllers reach the machine.
 */
import type { LocalHost } from "../hosts/local-host.js";

export interface PowerSwitch {
  /** What the power controller reads: on while the machine runs, is starting, or has not finished dying. */
  isOn(): boolean;
  /** Cuts the power; resolves once every process of the host is gone. */
  off(): Promise<void>;
  /** Restores the power; resolves once libvirtd answers and the agent has polled. A no-op when on. */
  on(): Promise<void>;
}

/** The power switch of `host`: one change at a time, in the order asked. */
export function machinePower(host: LocalHost): PowerSwitch {
  let queue: Promise<void> = Promise.resolve();
  let starting = false;
  const next = (change: () => Promise<void>): Promise<void> => {
    const run = queue.then(change);
    // A failed change (a host that would not start) must not block the ones after it.
    queue = run.catch(() => undefined);
    return run;
  };
  return {
    isOn: () => starting || host.running,
    off: () => next(() => host.kill()),
    on() {
      starting = true;
      return next(async () => {
        try {
          if (!host.running) await host.start();
        } finally {
          starting = false;
        }
      });
    },
  };
}
