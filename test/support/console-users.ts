/**
 * A console user's credentials, got outside the browser the way the console gets them: the local user
 * pool's sign-in (authorization code with PKCE), its token endpoint, then the identity pool. A test uses
 * them to send what the page would not offer (a read-only user's action) and see the API refuse it.
 */
import { createHash, randomBytes } from "node:crypto";
import type { LocalCloud } from "#local/cloud.js";
import { LazarusClient } from "../../cli/client.js";

export async function consoleUserClient(cloud: LocalCloud, username: string): Promise<LazarusClient> {
  const c = cloud.console!;
  const user = c.users.find((u) => u.username === username)!;
  const { auth } = c.config;
  const verifier = randomBytes(32).toString("base64url");
  const login = await fetch(`${auth.loginUrl}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      username: user.username,
      password: user.password,
      client_id: auth.clientId,
      response_type: "code",
      redirect_uri: auth.redirectUri,
      state: "test",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    }).toString(),
  });
  const code = new URL(login.headers.get("location") ?? "http://x/").searchParams.get("code");
  if (!code) throw new Error(`sign-in of ${username} gave no code (HTTP ${login.status})`);
  const token = (await (
    await fetch(`${auth.loginUrl}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: auth.clientId,
        code,
        redirect_uri: auth.redirectUri,
        code_verifier: verifier,
      }).toString(),
    })
  ).json()) as { id_token: string };
  const identity = async (op: string, body: object) =>
    (await (
      await fetch(auth.identityUrl, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": `AWSCognitoIdentityService.${op}`,
        },
        body: JSON.stringify(body),
      })
    ).json()) as Record<string, unknown>;
  const logins = { [`cognito-idp.${c.config.region}.amazonaws.com/${auth.userPoolId}`]: token.id_token };
  const { IdentityId } = await identity("GetId", { IdentityPoolId: auth.identityPoolId, Logins: logins });
  const { Credentials } = (await identity("GetCredentialsForIdentity", { IdentityId, Logins: logins })) as {
    Credentials: { AccessKeyId: string; SecretKey: string; SessionToken: string };
  };
  return new LazarusClient({
    url: cloud.api.url,
    sigv4: true,
    region: c.config.region,
    credentials: {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretKey,
      sessionToken: Credentials.SessionToken,
    },
  });
}
