/**
 * The web console in the local cloud, as the stack serves it (cdk/console.ts): its files behind the API's
 * `/console` path (unauthenticated, like the stack's S3-backed resources), a user pool and identity pool
 * (the local Cognito stand-in, local/cognito) with an operator and a read-only user, and the API behind
 * IAM-style authorization (local/api/api-callers.ts): every API request must be SigV4-signed by a caller
 * whose role may call the route. Tools get a fixed key per role (the lazarus CLI's `--sigv4`).
 */

import type { ApiAccess } from "#shared/definitions/api-access.js";
import {
  CONSOLE_PATH,
  type ConsoleConfig,
  consoleContentSecurityPolicy,
  consoleHeaders,
} from "#shared/definitions/console.js";
import { buildConsole, withPolicy } from "../../console/build.js";
import { type IssuedCredentials, LocalApiCallers } from "../api/api-callers.js";
import type { Authorizer, GatewayAnswer } from "../api/api-server.js";
import {
  type CognitoEndpoint,
  type LocalConsoleUser,
  startCognitoEndpoint,
} from "../cognito/cognito-endpoint.js";

export interface LocalConsole {
  /** The console's page: `<api url>/console/index.html`. */
  url: string;
  /** The user pool's users (a password each, made for this run): `operator` and `viewer`. */
  users: readonly LocalConsoleUser[];
  /** Keys of an IAM user per role, for tools (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, region us-east-1). */
  toolKeys: Readonly<Record<ApiAccess, IssuedCredentials>>;
  cognito: CognitoEndpoint;
  config: ConsoleConfig;
}

export interface LocalConsoleParts {
  /** For the API server: the console's files, and the authorization of every other request. */
  site(method: string, path: string): GatewayAnswer | null;
  authorize: Authorizer;
  /** Once the API listens: its URL completes the console's config. */
  attach(apiUrl: string): LocalConsole;
  close(): Promise<void>;
}

export async function startLocalConsole(opts: {
  prefix: string;
  pollMs?: number;
  /** Unsigned requests pass as an operator's (LocalApiCallers): `up --unsigned`, for openstackclient. */
  unsignedAsOperator?: boolean;
}): Promise<LocalConsoleParts> {
  const files = await buildConsole();
  const callers = new LocalApiCallers(opts.prefix, opts.unsignedAsOperator ?? false);
  let apiUrl: string | null = null;
  const pageUrl = () => `${apiUrl}${CONSOLE_PATH}/index.html`;
  const cognito = await startCognitoEndpoint({ callers, callbackUrl: pageUrl });
  let served: { config: ConsoleConfig; csp: string } | null = null;

  const site = (method: string, path: string): GatewayAnswer | null => {
    if (path !== CONSOLE_PATH && !path.startsWith(`${CONSOLE_PATH}/`)) return null;
    if (!served) return { status: 503, headers: { "content-type": "text/plain" }, body: "starting" };
    if (method !== "GET" && method !== "HEAD") {
      return { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain" }, body: "" };
    }
    if (path === CONSOLE_PATH || path === `${CONSOLE_PATH}/`) {
      return { status: 302, headers: { location: `${CONSOLE_PATH}/index.html` }, body: "" };
    }
    const name = path.slice(CONSOLE_PATH.length + 1);
    const body =
      name === "config.json"
        ? Buffer.from(JSON.stringify(served.config))
        : name === "index.html"
          ? Buffer.from(withPolicy(files.get(name)!.toString("utf8"), served.csp))
          : files.get(name);
    if (!body) return { status: 404, headers: { "content-type": "text/plain" }, body: "Not found" };
    return { status: 200, headers: consoleHeaders(name, served.csp), body: method === "HEAD" ? "" : body };
  };

  return {
    site,
    authorize: async (req) => {
      const verdict = await callers.authorize(req);
      return verdict.ok ? { ok: true, identity: { ...verdict.identity } } : verdict;
    },
    attach: (url) => {
      apiUrl = url;
      const config: ConsoleConfig = {
        apiUrl: url,
        region: cognito.region,
        auth: {
          loginUrl: cognito.url,
          clientId: cognito.clientId,
          userPoolId: cognito.userPoolId,
          identityPoolId: cognito.identityPoolId,
          identityUrl: `${cognito.url}/`,
          redirectUri: pageUrl(),
        },
        pollMs: opts.pollMs ?? 1000,
      };
      served = { config, csp: consoleContentSecurityPolicy(config.auth) };
      return {
        url: pageUrl(),
        users: cognito.users,
        toolKeys: {
          operate: callers.issueUserKey("operate", "local-operator"),
          read: callers.issueUserKey("read", "local-viewer"),
        },
        cognito,
        config,
      };
    },
    close: () => cognito.close(),
  };
}
