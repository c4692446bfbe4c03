/**
 * The web console's deployment facts, one definition for the three places that serve it: the stack
 * (cdk/console.ts: S3 objects behind the API's `/console` resources, Cognito), the local cloud
 * (local/console/console-site.ts: the same files behind the local API, the local Cognito stand-in), and the
 * console itself (console/src), which reads `config.json` beside its page.
 */

/** Where the API serves the console, below its stage: `<api url>/console/index.html`. */
export const CONSOLE_PATH = "/console";
export const CONSOLE_FILES = ["index.html", "app.js", "app.css", "config.json"] as const;

export interface ConsoleConfig {
  /** The API's base URL (the stage's, without a trailing slash): the routes are `<apiUrl>/v2.1/...`. */
  apiUrl: string;
  region: string;
  /** The Cognito user pool's managed login and identity pool (locally: local/cognito). */
  auth: {
    /** The managed login's domain, e.g. https://lazarus-x.auth.eu-west-1.amazoncognito.com */
    loginUrl: string;
    clientId: string;
    userPoolId: string;
    identityPoolId: string;
    /** The identity pool's endpoint, e.g. https://cognito-identity.eu-west-1.amazonaws.com/ */
    identityUrl: string;
    /** Where the managed login sends the user back (the console's page). */
    redirectUri: string;
  };
  /** How often the views look for changes, ms. */
  pollMs: number;
}

/**
 * A URL's origin (scheme and host). Written out rather than with `new URL`: in the stack the host is a
 * CloudFormation token until deployment.
 */
function originOf(url: string): string {
  return /^(https?:\/\/[^/]+)/.exec(url)?.[1] ?? url;
}

/**
 * The console's Content-Security-Policy, as its page's meta element carries it: its own scripts and styles
 * only, requests only to itself (the API is the same origin), the token endpoint and the identity pool, no
 * plugins. Framing (`frame-ancestors`, which a meta element cannot carry) is refused by the headers.
 */
export function consoleContentSecurityPolicy(auth: Pick<ConsoleConfig["auth"], "loginUrl" | "identityUrl">) {
  const connect = [...new Set(["'self'", originOf(auth.loginUrl), originOf(auth.identityUrl)])].join(" ");
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    `form-action ${originOf(auth.loginUrl)}`,
    "base-uri 'none'",
  ].join("; ");
}

/** A console file's content type, by its extension. */
export function contentTypeOf(file: string): string {
  if (file.endsWith(".html")) return "text/html; charset=utf-8";
  if (file.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (file.endsWith(".css")) return "text/css; charset=utf-8";
  return "application/json";
}

/** The security headers of every console file served locally (the stack's: cdk/console.ts). */
export function consoleHeaders(file: string, csp: string): Record<string, string> {
  return {
    "content-type": contentTypeOf(file),
    "content-security-policy": `${csp}; frame-ancestors 'none'`,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  };
}
