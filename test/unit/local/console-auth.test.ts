/**
 * The local stand-ins of how the stack signs console users in and authorizes the API (local/console,
 * local/cognito, local/api/api-callers.ts), over real HTTP with the CLI's own SigV4 client: the console's
 * files are served without sign-in (with their security headers); the managed login refuses a wrong
 * password, a foreign redirect and a wrong PKCE verifier; the identity pool gives each user their group's
 * role; the API gateway refuses an unsigned request, a bad signature, a missing session token, and a
 * read-only caller's action, each with nova's 403 fault, and passes the caller's identity to the API.
 */
import { createHash, randomBytes } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalApiCallers } from "#local/api/api-callers.js";
import { type ApiServer, startApiServer } from "#local/api/api-server.js";
import type { LocalCloud } from "#local/cloud.js";
import {
  type LocalConsole,
  type LocalConsoleParts,
  startLocalConsole,
} from "#local/console/local-console.js";
import { accessDeniedMessage, MISSING_AUTHENTICATION_MESSAGE } from "#shared/definitions/api-access.js";
import { NodeSha256 } from "#shared/sigv4/node-sha256.js";
import { ApiCallError, LazarusClient } from "../../../cli/client.js";
import { consoleUserClient } from "../../support/console-users.js";

let parts: LocalConsoleParts;
let api: ApiServer;
let web: LocalConsole;

beforeAll(async () => {
  parts = await startLocalConsole({ prefix: "lazarus" });
  // The API function's stand-in: it answers with the identity the gateway gave it.
  api = await startApiServer({
    handler: async (event) => ({
      statusCode: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify((event as { requestContext: { identity: unknown } }).requestContext.identity),
    }),
    authorize: parts.authorize,
    site: parts.site,
  });
  web = parts.attach(api.url);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await parts?.close();
});

const asCloud = () => ({ console: web, api }) as unknown as LocalCloud;

function toolClient(role: "operate" | "read", tamper: Partial<{ secretAccessKey: string }> = {}) {
  const key = web.toolKeys[role];
  return new LazarusClient({
    url: api.url,
    sigv4: true,
    region: "us-east-1",
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, ...tamper },
  });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApiCallError);
  expect((e as ApiCallError).status).toBe(403);
  return (e as ApiCallError).message;
}

describe("the console's files", () => {
  it("are served without sign-in, with the console's security headers; /console leads to the page", async () => {
    const root = await fetch(`${api.url}/console`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/index.html");
    const page = await fetch(web.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ${new URL(web.cognito.url).origin}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain('<script type="module" src="app.js">');
    const config = (await (await fetch(`${api.url}/console/config.json`)).json()) as LocalConsole["config"];
    expect(config).toEqual(web.config);
    expect(config.apiUrl).toBe(api.url);
    expect((await fetch(`${api.url}/console/app.js`)).headers.get("content-type")).toMatch(/javascript/);
    expect((await fetch(`${api.url}/console/nope.js`)).status).toBe(404);
    expect((await fetch(`${api.url}/console/index.html`, { method: "POST" })).status).toBe(405);
  });
});

describe("signing in (the local user pool and identity pool)", () => {
  const { auth } = { auth: () => web.config.auth };
  const form = (extra: Record<string, string>) => {
    const a = auth();
    return new URLSearchParams({
      client_id: a.clientId,
      response_type: "code",
      redirect_uri: a.redirectUri,
      state: "s",
      code_challenge: createHash("sha256").update("verifier-1").digest("base64url"),
      code_challenge_method: "S256",
      ...extra,
    });
  };
  const login = (extra: Record<string, string>) =>
    fetch(`${auth().loginUrl}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form(extra).toString(),
    });

  it("shows the sign-in form, refuses a wrong password and a redirect that is not the console", async () => {
    const page = await fetch(`${auth().loginUrl}/oauth2/authorize?${form({}).toString()}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="username"');
    const wrong = await login({ username: "viewer", password: "not-it" });
    expect(wrong.status).toBe(200);
    expect(await wrong.text()).toContain("Incorrect username or password.");
    const elsewhere = await login({
      username: "viewer",
      password: web.users.find((u) => u.username === "viewer")!.password,
      redirect_uri: "https://evil.example/",
    });
    expect(elsewhere.status).toBe(400);
  });

  it("trades a code only with its PKCE verifier, once", async () => {
    const ok = await login({
      username: "viewer",
      password: web.users.find((u) => u.username === "viewer")!.password,
    });
    expect(ok.status).toBe(302);
    const code = new URL(ok.headers.get("location")!).searchParams.get("code")!;
    const token = (verifier: string) =>
      fetch(`${auth().loginUrl}/oauth2/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          client_id: auth().clientId,
          code,
          redirect_uri: auth().redirectUri,
          code_verifier: verifier,
        }).toString(),
      });
    expect(await (await token(randomBytes(8).toString("hex"))).json()).toEqual({ error: "invalid_grant" });
    // The code was spent by the failed try: a code is good once.
    expect(await (await token("verifier-1")).json()).toEqual({ error: "invalid_grant" });
  });
});

describe("the API behind the local gateway", () => {
  it("refuses an unsigned request, a wrong secret and a session token that is not the session's", async () => {
    const unsigned = await fetch(`${api.url}/v2.1/servers`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({
      forbidden: { code: 403, message: MISSING_AUTHENTICATION_MESSAGE },
    });
    expect(await refusal(toolClient("operate", { secretAccessKey: "wrong" }).get("/servers"))).toMatch(
      /signature we calculated does not match/,
    );
    const viewer = await consoleUserClient(asCloud(), "viewer");
    expect(await viewer.get("/servers")).toBeTruthy();
    const key = web.toolKeys.read;
    const noSession = new LazarusClient({
      url: api.url,
      sigv4: true,
      region: "us-east-1",
      // A console session's key without its session token is not the session.
      credentials: {
        accessKeyId: key.accessKeyId,
        secretAccessKey: key.secretAccessKey,
        sessionToken: "forged",
      },
    });
    expect(await refusal(noSession.get("/servers"))).toMatch(
      /security token included in the request is invalid/,
    );
  });

  it("lets the read-only user read and refuses their actions with the route; the operator may act", async () => {
    const viewer = await consoleUserClient(asCloud(), "viewer");
    const identity = (await viewer.get("/os-hosts")) as Record<string, string>;
    expect(identity.userArn).toBe(
      "arn:aws:sts::000000000000:assumed-role/lazarus-console-read-only/CognitoIdentityCredentials",
    );
    expect(identity.cognitoAuthenticationProvider).toMatch(/:CognitoSignIn:[0-9a-f-]{36}$/);
    const path = "/v2.1/os-hosts/host-1/evacuate";
    expect(await refusal(viewer.call("POST", "/os-hosts/host-1/evacuate", { body: {} }))).toBe(
      `403: ${accessDeniedMessage("POST", path)}`,
    );
    expect(await refusal(toolClient("read").call("PUT", "/os-services/x", { body: {} }))).toContain(
      "it needs the operator role",
    );
    const operator = await consoleUserClient(asCloud(), "operator");
    const acted = (await operator.call("POST", "/os-hosts/host-1/evacuate", { body: {} })).body as Record<
      string,
      string
    >;
    expect(acted.userArn).toContain("assumed-role/lazarus-console-operator/");
    expect(
      (
        (await toolClient("operate").call("POST", "/servers/x/action", { body: {} })).body as {
          userArn: string;
        }
      ).userArn,
    ).toBe("arn:aws:iam::000000000000:user/local-operator");
  });
});

describe("up --unsigned (a local convenience for openstackclient)", () => {
  it("lets an unsigned request through as an anonymous operator's, and still checks a signed one", async () => {
    const callers = new LocalApiCallers("lazarus", true);
    const viewerKey = callers.issueUserKey("read", "local-viewer");
    const unsigned = await callers.authorize({
      method: "POST",
      url: "/v2.1/servers",
      headers: { host: "127.0.0.1" },
      body: Buffer.from("{}"),
    });
    expect(unsigned).toMatchObject({ ok: true, identity: { userArn: null } });
    // The same request signed by a read-only key is refused.
    const signer = new SignatureV4({
      service: "execute-api",
      region: "us-east-1",
      credentials: { accessKeyId: viewerKey.accessKeyId, secretAccessKey: viewerKey.secretAccessKey },
      sha256: NodeSha256,
    });
    const signed = await signer.sign({
      method: "POST",
      protocol: "http:",
      hostname: "127.0.0.1",
      path: "/v2.1/servers",
      headers: { host: "127.0.0.1" },
      body: "{}",
    });
    const verdict = await callers.authorize({
      method: "POST",
      url: "/v2.1/servers",
      headers: Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), v])),
      body: Buffer.from("{}"),
    });
    expect(verdict).toMatchObject({ ok: false, status: 403 });
  });
});
