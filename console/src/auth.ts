/**
 * Signing in: the user pool's managed login (OAuth 2.0 authorization code with PKCE), then the identity
 * pool, which trades the ID token for temporary AWS credentials of the role of the user's group
 * (`operator` or `read-only`, shared/definitions/api-access.ts). The credentials sign every API request
 * (sigv4.ts); API Gateway decides with the role's policy. Tokens live in this tab's sessionStorage only; the
 * credentials in memory. Nothing here is a secret of the console's: the app client has none.
 */
import { type ApiAccess, roleOfGroups } from "#shared/definitions/api-access.js";
import type { ConsoleConfig } from "#shared/definitions/console.js";
import type { AwsCredentials } from "./sigv4.js";

export interface SignedInUser {
  username: string;
  /** The role the user's groups give; null: in neither group (the identity pool refuses credentials). */
  role: ApiAccess | null;
}

interface Tokens {
  idToken: string;
  refreshToken: string;
  /** Epoch ms when the ID token expires. */
  expiresAt: number;
}

const TOKENS = "lazarus.tokens";
const PENDING = "lazarus.signin";
/** Credentials and tokens are renewed this long before they expire. */
const RENEW_BEFORE_MS = 5 * 60_000;

export class SignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SignInError";
  }
}

function randomText(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return base64url(b);
}

function base64url(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function claimsOf(idToken: string): Record<string, unknown> {
  const body = idToken.split(".")[1] ?? "";
  const json = atob(body.replaceAll("-", "+").replaceAll("_", "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<
    string,
    unknown
  >;
}

export class Auth {
  private creds: AwsCredentials | null = null;
  private identityId: string | null = null;
  private renewing: Promise<AwsCredentials> | null = null;

  constructor(private readonly config: ConsoleConfig) {}

  private tokens(): Tokens | null {
    const raw = sessionStorage.getItem(TOKENS);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  }

  private saveTokens(t: Tokens): void {
    sessionStorage.setItem(TOKENS, JSON.stringify(t));
  }

  user(): SignedInUser | null {
    const t = this.tokens();
    if (!t) return null;
    const c = claimsOf(t.idToken);
    const groups = Array.isArray(c["cognito:groups"]) ? (c["cognito:groups"] as string[]) : [];
    return { username: String(c["cognito:username"] ?? c.sub ?? "?"), role: roleOfGroups(groups) };
  }

  /** To the managed login; it comes back to the console with `?code=...&state=...`. */
  async signIn(): Promise<void> {
    const verifier = randomText(48);
    const state = randomText(16);
    const challenge = base64url(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
    );
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
    const { auth } = this.config;
    const url = new URL("/oauth2/authorize", auth.loginUrl);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: auth.clientId,
      redirect_uri: auth.redirectUri,
      scope: "openid profile",
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    location.assign(url.href);
  }

  /** Back from the managed login: trade the code for tokens, and take the code out of the address bar. */
  async completeSignIn(): Promise<boolean> {
    const params = new URLSearchParams(location.search);
    const code = params.get("code");
    if (!code) return false;
    history.replaceState(null, "", location.pathname + location.hash);
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null") as {
      verifier: string;
      state: string;
    } | null;
    sessionStorage.removeItem(PENDING);
    if (!pending || pending.state !== params.get("state")) {
      throw new SignInError("The sign-in came back with a state this tab did not send: sign in again.");
    }
    const answer = await this.token({
      grant_type: "authorization_code",
      code,
      redirect_uri: this.config.auth.redirectUri,
      code_verifier: pending.verifier,
    });
    if (!answer.refresh_token) throw new SignInError("The token endpoint gave no refresh token.");
    this.saveTokens({
      idToken: answer.id_token,
      refreshToken: answer.refresh_token,
      expiresAt: Date.now() + answer.expires_in * 1000,
    });
    return true;
  }

  signOut(): void {
    sessionStorage.removeItem(TOKENS);
    this.creds = null;
    const { auth } = this.config;
    const url = new URL("/logout", auth.loginUrl);
    url.search = new URLSearchParams({ client_id: auth.clientId, logout_uri: auth.redirectUri }).toString();
    location.assign(url.href);
  }

  private async token(form: Record<string, string>) {
    const res = await fetch(new URL("/oauth2/token", this.config.auth.loginUrl), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...form, client_id: this.config.auth.clientId }).toString(),
    });
    const body = (await res.json()) as {
      id_token?: string;
      refresh_token?: string;
      expires_in?: number;
      error?: string;
    };
    if (!res.ok || !body.id_token) {
      throw new SignInError(`The sign-in was refused (${body.error ?? res.status}): sign in again.`);
    }
    return {
      id_token: body.id_token,
      refresh_token: body.refresh_token,
      expires_in: body.expires_in ?? 3600,
    };
  }

  /** A fresh ID token (refreshed with the refresh token when it is about to expire). */
  private async idToken(): Promise<string> {
    const t = this.tokens();
    if (!t) throw new SignInError("Not signed in.");
    if (t.expiresAt - Date.now() > RENEW_BEFORE_MS) return t.idToken;
    const answer = await this.token({ grant_type: "refresh_token", refresh_token: t.refreshToken });
    const next = {
      idToken: answer.id_token,
      refreshToken: t.refreshToken,
      expiresAt: Date.now() + answer.expires_in * 1000,
    };
    this.saveTokens(next);
    return next.idToken;
  }

  private async identity(target: string, body: object): Promise<Record<string, unknown>> {
    const res = await fetch(this.config.auth.identityUrl, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": `AWSCognitoIdentityService.${target}`,
      },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as Record<string, unknown>;
    if (!res.ok) {
      throw new SignInError(
        `The identity pool refused credentials: ${String(answer.message ?? answer.__type ?? res.status)}`,
      );
    }
    return answer;
  }

  /** The role's temporary credentials, renewed before they expire. */
  credentials = async (): Promise<AwsCredentials> => {
    if (this.creds && this.creds.expiration.getTime() - Date.now() > RENEW_BEFORE_MS) return this.creds;
    this.renewing ??= this.renew().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  };

  private async renew(): Promise<AwsCredentials> {
    const { auth } = this.config;
    const logins = {
      [`cognito-idp.${this.config.region}.amazonaws.com/${auth.userPoolId}`]: await this.idToken(),
    };
    this.identityId ??= String(
      (await this.identity("GetId", { IdentityPoolId: auth.identityPoolId, Logins: logins })).IdentityId,
    );
    const answer = await this.identity("GetCredentialsForIdentity", {
      IdentityId: this.identityId,
      Logins: logins,
    });
    const c = answer.Credentials as {
      AccessKeyId: string;
      SecretKey: string;
      SessionToken: string;
      Expiration: number;
    };
    this.creds = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretKey,
      sessionToken: c.SessionToken,
      expiration: new Date(c.Expiration * 1000),
    };
    return this.creds;
  }
}
