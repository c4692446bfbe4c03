/**
 * The simulator's fake clock and its tasks. Every concurrent thing the simulator runs (an execution, a
 * Map iteration, a child evacuation, an operator's request) is a task; tasks take turns holding one baton
 * and give it up only where they wait for the clock (`sleepUntil`) or for other tasks (`join`). So the real
 * steps may await real I/O (dynalite) while holding it, and the interleaving is the same on every run: a
 * scenario's log is a function of its events. The clock moves only when every task waits (`settle`).
 */
export class SimScheduler {
  private nowMs = 0;
  private held = false;
  private readonly turns: (() => void)[] = [];
  private readonly sleepers: { until: number; seq: number; wake: () => void }[] = [];
  private seq = 0;

  /** Milliseconds since the scenario's start. */
  get now(): number {
    return this.nowMs;
  }

  private acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.turns.push(resolve));
  }

  private release(): void {
    const next = this.turns.shift();
    if (next) next();
    else this.held = false;
  }

  /** Runs `fn` as a task (it waits for its turn first); its result or error is the promise's. */
  spawn<T>(fn: () => Promise<T>): Promise<T> {
    return (async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        this.release();
      }
    })();
  }

  /** Inside a task: gives the turn up until the clock reaches `untilMs` (at once: behind the waiting). */
  async sleepUntil(untilMs: number): Promise<void> {
    this.release();
    if (untilMs > this.nowMs) {
      await new Promise<void>((wake) => this.sleepers.push({ until: untilMs, seq: this.seq++, wake }));
    }
    await this.acquire();
  }

  /** Inside a task: gives the turn up until `p` settles (other tasks make it settle). */
  async join<T>(p: Promise<T>): Promise<T> {
    this.release();
    try {
      return await p;
    } finally {
      await this.acquire();
    }
  }

  /** Moves the clock to `ms` and wakes every task whose time has come, earliest (then first asleep) first. */
  advanceTo(ms: number): void {
    this.nowMs = ms;
    const due = this.sleepers.filter((s) => s.until <= ms).sort((a, b) => a.until - b.until || a.seq - b.seq);
    for (const s of due) {
      this.sleepers.splice(this.sleepers.indexOf(s), 1);
      s.wake();
    }
  }

  /** Resolves once no task holds the turn or waits for one: every task waits for the clock or is done. */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = !this.held && this.turns.length === 0 ? quiet + 1 : 0;
    }
  }

  /** Tasks asleep (for the end-of-run report: an execution that never ended). */
  get sleeping(): number {
    return this.sleepers.length;
  }
}
