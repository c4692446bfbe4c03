/**
 * The host-side libvirt lifecycle monitor as a module: it follows `virsh -c URI event --loop --event
 * lifecycle --timestamp` (URI: qemu:///system on a real host), hands every stop worth reporting (a Lazarus
 * domain stopped as Failed, Crashed or Shutdown: `isFailureStop`) to `report`, and follows libvirtd
 * restarts by starting virsh again. `alive` is true only while the event stream runs, so the monitor
 * (monitor.ts) publishes its liveness only while it really watches.
 *
 * A domain not named `instance-<uuid>` (an adopted domain keeps its libvirt name until Lazarus recreates
 * it) is reported under the uuid libvirt gives for its name (`virsh domuuid`); a domain gone by then (a
 * transient one) has no instance to recover and is not reported.
 *
 * It decides nothing about the instance: whether the stop was asked for is the control plane's decision
 * from the instance record (shared/domain/instance-failure.ts `classifyStop`).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { isFailureStop, type LifecycleEvent, parseLifecycleLine } from "#shared/domain/instance-failure.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface LifecycleMonitorOptions {
  /** The libvirt connection followed (`virsh -c`). */
  uri: string;
  /** The environment virsh runs with. */
  env: NodeJS.ProcessEnv;
  /** Called when the event stream starts (true) or stops (false) running. */
  onConnection?: (connected: boolean) => void;
  /** Called for each reportable stop, in order; a rejection is logged (the caller retries its own sends). */
  report: (event: LifecycleEvent & { at: string }) => Promise<void>;
  log: (message: string) => void;
  /** Wait before following the events again after virsh exited (libvirtd restarting). */
  restartDelayMs?: number;
}

export class LifecycleMonitor {
  private child: ChildProcess | undefined;
  private stopped = false;
  private streaming = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LifecycleMonitorOptions) {}

  /** Whether the event stream runs (virsh connected and following). */
  get alive(): boolean {
    return this.streaming && this.child !== undefined && this.child.exitCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped || this.child) return;
    // stdbuf -oL: virsh's stdout is a pipe here, and an event must not wait in a buffer.
    const child = spawn(
      "stdbuf",
      ["-oL", "virsh", "-c", this.opts.uri, "event", "--loop", "--event", "lifecycle", "--timestamp"],
      { env: this.opts.env, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    this.setStreaming(false);
    child.stderr?.setEncoding("utf8").on("data", (d: string) => this.opts.log(`virsh event: ${d.trim()}`));
    const lines = createInterface({ input: child.stdout! });
    // virsh prints nothing until an event comes; it is following once it has run a moment without exiting.
    const settled = setTimeout(() => {
      if (this.child === child && child.exitCode === null) this.setStreaming(true);
    }, 500);
    lines.on("line", (line) => {
      const event = parseLifecycleLine(line);
      if (!event) return;
      this.setStreaming(true);
      if (!isFailureStop(event)) return;
      const at = event.at ?? new Date().toISOString();
      this.queue = this.queue
        .then(async () => {
          const instanceUuid = event.instanceUuid ?? (await this.domainUuid(event.domain));
          if (instanceUuid === null) return;
          await this.opts.report({ ...event, instanceUuid, at });
        })
        .catch((e: unknown) => this.opts.log(`report failed: ${e instanceof Error ? e.message : String(e)}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(settled);
      if (this.child !== child) return;
      this.child = undefined;
      this.setStreaming(false);
      if (this.stopped) return;
      this.opts.log(`virsh event exited (${code ?? signal}); following again`);
      setTimeout(() => this.start(), this.opts.restartDelayMs ?? 1000);
    });
  }

  private setStreaming(streaming: boolean): void {
    if (this.streaming === streaming) return;
    this.streaming = streaming;
    this.opts.onConnection?.(streaming);
  }

  /** The uuid of a defined domain by its name (argv, no shell); null when libvirt no longer has it. */
  private domainUuid(name: string): Promise<string | null> {
    return new Promise((resolve) => {
      execFile(
        "virsh",
        ["-c", this.opts.uri, "domuuid", "--", name],
        { env: this.opts.env, timeout: 10_000 },
        (err, stdout) => {
          const uuid = String(stdout).trim().toLowerCase();
          resolve(!err && UUID.test(uuid) ? uuid : null);
        },
      );
    });
  }

  /** Stops following (its virsh by pid); resolves once the reports already made were handed over. */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child?.pid !== undefined && child.exitCode === null) child.kill("SIGTERM");
    await this.queue;
  }
}
