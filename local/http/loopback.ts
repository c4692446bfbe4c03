/** Start and stop the local endpoints' HTTP servers: loopback only, never waiting for idle keep-alives. */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Listens on 127.0.0.1 (`port` 0: any free port) and resolves with the address callers use. */
export async function listenOnLoopback(server: Server, port = 0): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${bound}`, port: bound };
}

/** How `closeServer` lets the work in flight finish before it cuts the connections. */
export interface DrainOptions {
  /** How much is still in flight (requests being answered, or the work they started); 0 = drained. */
  inFlight: () => number;
  /** The longest wait: whatever is still in flight then has its connection cut. */
  maxMs: number;
}

/**
 * Stops accepting and drops open connections: SDK clients keep theirs alive and would hold close() up.
 * With `drain`, idle connections are closed at once, and those of requests in flight only once nothing is
 * in flight any more (or after `drain.maxMs`): work a caller started is not cut short by the close.
 */
export async function closeServer(server: Server, options: { drain?: DrainOptions } = {}): Promise<void> {
  const closed = new Promise<void>((resolve, reject) =>
    server.close((err?: Error) => (err ? reject(err) : resolve())),
  );
  if (options.drain) {
    const { inFlight, maxMs } = options.drain;
    server.closeIdleConnections();
    const until = Date.now() + maxMs;
    while (inFlight() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }
  server.closeAllConnections();
  await closed;
}
