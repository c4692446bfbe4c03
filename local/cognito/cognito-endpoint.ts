/**
 * The local stand-in of what the stack signs console users in with (cdk/console.ts): a Cognito user pool's
 * managed login (OAuth 2.0 authorization code with PKCE: `/oauth2/authorize` shows the sign-in form,
 * `/oauth2/token` trades the code, or a refresh token, for an ID token; `/logout`) and its identity pool
 * (`AWSCognitoIdentityService.GetId` / `GetCredentialsForIdentity`, AWS JSON 1.1 on `/`), which trades the
 * ID token for temporary credentials of the role of the user's group (`operator` or `read-only`), issued by
 * `LocalApiCallers` so that the local API accepts them. The console speaks to it exactly as to Cognito;
 * only the URLs in its config differ. Users and passwords are made per run. Answers CORS as Cognito does.
 * Binds to 127.0.0.1 only; everything is in memory and gone with the run.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type ApiAccess, CONSOLE_GROUPS } from "#shared/definitions/api-access.js";
import { deterministicUuid } from "#shared/domain/ids.js";
import type { LocalApiCallers } from "../api/api-callers.js";
import { AwsJsonError, awsJsonHandler, readBody, sendBody, sendJson } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";

export interface LocalConsoleUser {
  username: string;
  password: string;
  role: ApiAccess;
}

export interface CognitoEndpoint {
  /** The managed login's domain and the identity pool's endpoint (one server here). */
  url: string;
  region: string;
  userPoolId: string;
  clientId: string;
  identityPoolId: string;
  users: readonly LocalConsoleUser[];
  close(): Promise<void>;
}

const TOKEN_SECONDS = 3600;

const b64url = (v: string | Buffer) => Buffer.from(v).toString("base64url");

const escapeHtml = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** The managed login's form (the real one has the same fields: username, password). */
function loginPage(params: URLSearchParams, error: string | null): string {
  const hidden = [...params]
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Lazarus (local user pool)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body{font:15px/1.4 system-ui,sans-serif;background:#f3f4f6;color:#111827;display:grid;place-items:center;min-height:100vh;margin:0}
form{background:#fff;padding:28px 32px;border:1px solid #d1d5db;border-radius:8px;width:320px}
h1{font-size:18px;margin:0 0 4px}p{margin:0 0 16px;color:#4b5563;font-size:13px}
label{display:block;font-weight:600;margin:12px 0 4px}input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;border:1px solid #6b7280;border-radius:4px;font:inherit}
button{margin-top:18px;width:100%;padding:9px;border:0;border-radius:4px;background:#1d4ed8;color:#fff;font:inherit;font-weight:600;cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid #93c5fd;outline-offset:1px}
.error{color:#b91c1c;background:#fef2f2;border:1px solid #fecaca;padding:8px;border-radius:4px}
</style></head><body>
<form method="post" action="/login">
<h1>Sign in to Lazarus</h1><p>Local user pool (the stand-in of the stack's Cognito managed login)</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
${hidden}
<label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>`;
}

export async function startCognitoEndpoint(opts: {
  callers: LocalApiCallers;
  /** The console's address: the only redirect target allowed (the app client's callback URL). */
  callbackUrl: () => string;
  region?: string;
  users?: readonly { username: string; role: ApiAccess }[];
}): Promise<CognitoEndpoint> {
  const region = opts.region ?? "us-east-1";
  const userPoolId = `${region}_LzLocal01`;
  const clientId = randomBytes(13).toString("hex");
  const identityPoolId = `${region}:${deterministicUuid("local-identity-pool", userPoolId)}`;
  const issuer = `https://cognito-idp.${region}.amazonaws.com/${userPoolId}`;
  const provider = `cognito-idp.${region}.amazonaws.com/${userPoolId}`;
  const signingKey = randomBytes(32);
  const users: LocalConsoleUser[] = (
    opts.users ?? [
      { username: "operator", role: "operate" },
      { username: "viewer", role: "read" },
    ]
  ).map((u) => ({ ...u, password: randomBytes(12).toString("base64url") }));

  /** Codes and refresh tokens handed out: what each redeems for. */
  const codes = new Map<
    string,
    { user: LocalConsoleUser; challenge: string; redirectUri: string; expires: number }
  >();
  const refreshTokens = new Map<string, LocalConsoleUser>();

  const sub = (u: LocalConsoleUser) => deterministicUuid("local-cognito-user", userPoolId, u.username);
  const sign = (payload: object) => {
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT", kid: "local" }));
    const body = b64url(JSON.stringify(payload));
    return `${head}.${body}.${b64url(createHmac("sha256", signingKey).update(`${head}.${body}`).digest())}`;
  };
  const idToken = (u: LocalConsoleUser) => {
    const now = Math.floor(Date.now() / 1000);
    return sign({
      sub: sub(u),
      "cognito:username": u.username,
      "cognito:groups": [CONSOLE_GROUPS[u.role]],
      iss: issuer,
      aud: clientId,
      token_use: "id",
      auth_time: now,
      iat: now,
      exp: now + TOKEN_SECONDS,
    });
  };
  /** The user an ID token names, if this pool signed it and it has not expired. */
  const verify = (token: string): LocalConsoleUser => {
    const [head, body, sig] = token.split(".");
    const expected = createHmac("sha256", signingKey).update(`${head}.${body}`).digest();
    const given = Buffer.from(sig ?? "", "base64url");
    if (!head || !body || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AwsJsonError("NotAuthorizedException", "Invalid login token. Token signature invalid.");
    }
    const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as {
      sub: string;
      exp: number;
    };
    if (claims.exp * 1000 < Date.now()) {
      throw new AwsJsonError("NotAuthorizedException", "Invalid login token. Token expired.");
    }
    const user = users.find((u) => sub(u) === claims.sub);
    if (!user) throw new AwsJsonError("NotAuthorizedException", "Invalid login token.");
    return user;
  };
  const loginOf = (input: Record<string, unknown>): LocalConsoleUser => {
    const logins = (input.Logins ?? {}) as Record<string, unknown>;
    const token = logins[provider];
    if (typeof token !== "string") {
      throw new AwsJsonError("NotAuthorizedException", `Logins must hold a token of ${provider}`);
    }
    return verify(token);
  };
  const identityIdOf = (u: LocalConsoleUser) => `${region}:${deterministicUuid("local-identity", sub(u))}`;

  const identityPool = awsJsonHandler({
    version: "1.1",
    targetPrefix: "AWSCognitoIdentityService",
    operations: {
      GetId: (input) => {
        if (input.IdentityPoolId !== identityPoolId) {
          throw new AwsJsonError(
            "ResourceNotFoundException",
            `IdentityPool '${String(input.IdentityPoolId)}' not found.`,
          );
        }
        return { IdentityId: identityIdOf(loginOf(input)) };
      },
      GetCredentialsForIdentity: (input) => {
        const user = loginOf(input);
        const identityId = identityIdOf(user);
        if (input.IdentityId !== identityId) {
          throw new AwsJsonError("NotAuthorizedException", "Logins don't match the identity.");
        }
        const c = opts.callers.issueSession(user.role, {
          identityId,
          provider: `${provider},${provider}:CognitoSignIn:${sub(user)}`,
        });
        return {
          IdentityId: identityId,
          Credentials: {
            AccessKeyId: c.accessKeyId,
            SecretKey: c.secretAccessKey,
            SessionToken: c.sessionToken,
            Expiration: c.expiration,
          },
        };
      },
    },
  });

  const cors = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader("access-control-allow-origin", req.headers.origin ?? "*");
    res.setHeader("access-control-allow-headers", "content-type,x-amz-target,x-amz-user-agent,authorization");
    res.setHeader("access-control-allow-methods", "GET,POST,OPTIONS");
    res.setHeader("vary", "Origin");
  };
  const html = (res: ServerResponse, status: number, body: string) =>
    sendBody(res, status, body, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  const redirect = (res: ServerResponse, location: string) =>
    sendBody(res, 302, "", { location, "cache-control": "no-store" });
  const oauthError = (res: ServerResponse, error: string) => sendJson(res, 400, { error });

  /** The authorize request's parameters, checked as the managed login checks them. */
  const authorizeParams = (params: URLSearchParams): string | null => {
    if (params.get("client_id") !== clientId) return "invalid client_id";
    if (params.get("response_type") !== "code") return "response_type must be code";
    if (params.get("redirect_uri") !== opts.callbackUrl())
      return "redirect_uri is not a callback URL of the client";
    if (params.get("code_challenge_method") !== "S256" || !params.get("code_challenge")) {
      return "PKCE (code_challenge, S256) is required";
    }
    return null;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://local");
    cors(req, res);
    if (req.method === "OPTIONS") {
      sendBody(res, 204, "");
      return;
    }
    if (url.pathname === "/" && req.method === "POST") {
      identityPool(req, res);
      return;
    }
    void (async () => {
      if (url.pathname === "/oauth2/authorize" && req.method === "GET") {
        const problem = authorizeParams(url.searchParams);
        if (problem) return html(res, 400, `<p>${escapeHtml(problem)}</p>`);
        return html(res, 200, loginPage(url.searchParams, null));
      }
      if (url.pathname === "/login" && req.method === "POST") {
        const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString("utf8"));
        const username = form.get("username") ?? "";
        const password = form.get("password") ?? "";
        form.delete("username");
        form.delete("password");
        const problem = authorizeParams(form);
        if (problem) return html(res, 400, `<p>${escapeHtml(problem)}</p>`);
        const user = users.find((u) => u.username === username);
        const ok =
          user !== undefined &&
          password.length === user.password.length &&
          timingSafeEqual(Buffer.from(password), Buffer.from(user.password));
        if (!user || !ok) return html(res, 200, loginPage(form, "Incorrect username or password."));
        const code = randomBytes(24).toString("base64url");
        codes.set(code, {
          user,
          challenge: form.get("code_challenge")!,
          redirectUri: form.get("redirect_uri")!,
          expires: Date.now() + 5 * 60_000,
        });
        const back = new URL(form.get("redirect_uri")!);
        back.searchParams.set("code", code);
        if (form.get("state")) back.searchParams.set("state", form.get("state")!);
        return redirect(res, back.href);
      }
      if (url.pathname === "/oauth2/token" && req.method === "POST") {
        const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString("utf8"));
        if (form.get("client_id") !== clientId) return oauthError(res, "invalid_client");
        const tokens = (u: LocalConsoleUser) => ({
          id_token: idToken(u),
          access_token: sign({
            sub: sub(u),
            token_use: "access",
            client_id: clientId,
            exp: Math.floor(Date.now() / 1000) + TOKEN_SECONDS,
          }),
          expires_in: TOKEN_SECONDS,
          token_type: "Bearer",
        });
        if (form.get("grant_type") === "authorization_code") {
          const entry = codes.get(form.get("code") ?? "");
          codes.delete(form.get("code") ?? "");
          const verifier = form.get("code_verifier") ?? "";
          const challenge = createHash("sha256").update(verifier).digest("base64url");
          if (
            !entry ||
            entry.expires < Date.now() ||
            entry.redirectUri !== form.get("redirect_uri") ||
            challenge !== entry.challenge
          ) {
            return oauthError(res, "invalid_grant");
          }
          const refresh = randomBytes(32).toString("base64url");
          refreshTokens.set(refresh, entry.user);
          return sendJson(res, 200, { ...tokens(entry.user), refresh_token: refresh });
        }
        if (form.get("grant_type") === "refresh_token") {
          const user = refreshTokens.get(form.get("refresh_token") ?? "");
          return user ? sendJson(res, 200, tokens(user)) : oauthError(res, "invalid_grant");
        }
        return oauthError(res, "unsupported_grant_type");
      }
      if (url.pathname === "/logout" && req.method === "GET") {
        if (url.searchParams.get("client_id") !== clientId) return html(res, 400, "<p>invalid client_id</p>");
        return redirect(res, url.searchParams.get("logout_uri") ?? opts.callbackUrl());
      }
      sendJson(res, 404, { error: "not_found" });
    })().catch((e: unknown) => sendJson(res, 500, { error: "server_error", message: String(e) }));
  });
  const { url } = await listenOnLoopback(server);
  return {
    url,
    region,
    userPoolId,
    clientId,
    identityPoolId,
    users,
    close: () => closeServer(server),
  };
}
