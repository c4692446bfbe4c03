/**
 * closeServer (local/http/loopback.ts): a plain close cuts every connection at once; with `drain`, the
 * requests in flight are answered first (the DynamoDB and Lambda endpoints' close), within a bound.
 */
import { Agent, createServer, request, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { closeServer, listenOnLoopback } from "#local/http/loopback.js";

/** A server whose answers to `/slow` wait for `release()`; `/fast` is answered at once. */
async function gatedServer() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let active = 0;
  const server: Server = createServer((req, res) => {
    active++;
    res.on("close", () => active--);
    if (req.url === "/slow") void gate.then(() => res.end("answered"));
    else res.end("fast");
  });
  const { url } = await listenOnLoopback(server);
  return { server, url, release, inFlight: () => active };
}

const agents: Agent[] = [];
afterEach(() => {
  for (const agent of agents.splice(0)) agent.destroy();
});

/** GET with a keep-alive agent (as SDK clients use): resolves with the body, or the connection's error. */
function get(url: string, agent: Agent): Promise<{ body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ body }));
      res.on("error", (e) => resolve({ error: e.message }));
    });
    req.on("error", (e) => resolve({ error: e.message }));
    req.end();
  });
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true });
  agents.push(agent);
  return agent;
}

const waitFor = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

describe("closeServer", () => {
  it("without drain, cuts a request in flight", async () => {
    const { server, url, release, inFlight } = await gatedServer();
    const slow = get(`${url}/slow`, keepAliveAgent());
    await waitFor(() => inFlight() === 1);
    await closeServer(server);
    release();
    expect(await slow).toHaveProperty("error");
  });

  it("with drain, answers the request in flight before closing; an idle keep-alive does not hold it up", async () => {
    const { server, url, release, inFlight } = await gatedServer();
    const idleAgent = keepAliveAgent();
    expect(await get(`${url}/fast`, idleAgent)).toEqual({ body: "fast" }); // its connection stays open, idle
    const slow = get(`${url}/slow`, keepAliveAgent());
    await waitFor(() => inFlight() === 1);
    let closed = false;
    const closing = closeServer(server, { drain: { inFlight, maxMs: 60_000 } }).then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.listening).toBe(false); // no new connections meanwhile
    expect(closed).toBe(false); // still waiting for the request in flight
    release();
    expect(await slow).toEqual({ body: "answered" });
    await closing;
    expect(closed).toBe(true);
  });

  it("with drain, cuts what is still in flight after maxMs", async () => {
    const { server, url, inFlight } = await gatedServer();
    const slow = get(`${url}/slow`, keepAliveAgent());
    await waitFor(() => inFlight() === 1);
    await closeServer(server, { drain: { inFlight, maxMs: 100 } });
    expect(await slow).toHaveProperty("error");
  });
});
