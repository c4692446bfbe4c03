/**
 * Who may call the local API, and what as: the local stand-in of the stack's IAM side of API Gateway.
 * In AWS every request is SigV4-signed (service execute-api) by an IAM principal, and the role's policy
 * (`executeApiResources` of shared/definitions/api-access.ts) lets it call the operator routes or only the
 * read ones. Here the same: every caller has an access key whose role is `operate` or `read`; a console user
 * gets temporary credentials from the local Cognito stand-in (local/cognito), a tool (the lazarus CLI) uses a
 * fixed key per role. `authorize` checks a request as API Gateway's IAM authorization does and answers a
 * refusal with the API's own 403 fault (the gateway responses the stack sets). The signature check is
 * local/http/sigv4.ts.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import {
  type ApiAccess,
  accessDeniedMessage,
  allows,
  consoleRoleName,
  forbiddenBody,
  MISSING_AUTHENTICATION_MESSAGE,
  routeOf,
} from "#shared/definitions/api-access.js";
import { AwsJsonError } from "../http/aws-json.js";
import { LocalCredentials, verifySigV4 } from "../http/sigv4.js";

export const LOCAL_ACCOUNT = "000000000000";

/** API Gateway's `requestContext.identity` for an IAM-authorized call (the fields the API reads). */
export interface CallerIdentity {
  userArn: string | null;
  caller: string | null;
  accessKey: string;
  cognitoIdentityId: string | null;
  cognitoAuthenticationProvider: string | null;
}

interface Caller {
  role: ApiAccess;
  identity: Omit<CallerIdentity, "accessKey">;
  sessionToken: string | null;
  expiresAt: number | null;
}

export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string | null;
  expiration: Date | null;
}

export type AuthorizeResult =
  | { ok: true; identity: CallerIdentity }
  | { ok: false; status: number; headers: Record<string, string>; body: string };

function refusal(message: string): AuthorizeResult {
  return {
    ok: false,
    status: 403,
    headers: { "content-type": "application/json" },
    body: forbiddenBody(message),
  };
}

export class LocalApiCallers {
  private readonly credentials = new LocalCredentials();
  private readonly callers = new Map<string, Caller>();

  /**
   * `unsignedAsOperator`: a request without a signature passes, as an anonymous operator's (a local
   * convenience for clients that cannot sign, openstackclient's `--os-auth-type none`: never in AWS). A
   * signed request is checked all the same.
   */
  constructor(
    private readonly prefix = "lazarus",
    private readonly unsignedAsOperator = false,
  ) {}

  /** Temporary credentials of a console role, as Cognito's identity pool hands them out (an hour). */
  issueSession(role: ApiAccess, cognito: { identityId: string; provider: string }): IssuedCredentials {
    const roleName = consoleRoleName(this.prefix, role);
    const session = this.credentials.issue(`assumed-role/${roleName}`);
    const sessionToken = randomBytes(48).toString("base64url");
    const expiration = new Date(Date.now() + 3600_000);
    this.callers.set(session.accessKeyId, {
      role,
      identity: {
        userArn: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${roleName}/CognitoIdentityCredentials`,
        caller: `AROA${randomBytes(8).toString("hex").toUpperCase()}:CognitoIdentityCredentials`,
        cognitoIdentityId: cognito.identityId,
        cognitoAuthenticationProvider: cognito.provider,
      },
      sessionToken,
      expiresAt: expiration.getTime(),
    });
    return {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken,
      expiration,
    };
  }

  /** A long-lived key of an IAM user with the role's policy (the lazarus CLI's `--sigv4` locally). */
  issueUserKey(role: ApiAccess, userName: string): IssuedCredentials {
    const key = this.credentials.issue(`user/${userName}`);
    this.callers.set(key.accessKeyId, {
      role,
      identity: {
        userArn: `arn:aws:iam::${LOCAL_ACCOUNT}:user/${userName}`,
        caller: `AIDA${randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase()}`,
        cognitoIdentityId: null,
        cognitoAuthenticationProvider: null,
      },
      sessionToken: null,
      expiresAt: null,
    });
    return {
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      sessionToken: null,
      expiration: null,
    };
  }

  /**
   * API Gateway's IAM authorization of one request: signed by a known caller (its session token with it,
   * not expired), whose role may call the route. `path` is the request's path as the gateway received it.
   */
  async authorize(req: {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    body: Buffer;
  }): Promise<AuthorizeResult> {
    const path = req.url.split("?")[0] ?? "/";
    if (req.headers.authorization === undefined) {
      if (!this.unsignedAsOperator) return refusal(MISSING_AUTHENTICATION_MESSAGE);
      const anonymous = {
        userArn: null,
        caller: null,
        cognitoIdentityId: null,
        cognitoAuthenticationProvider: null,
      };
      return { ok: true, identity: { ...anonymous, accessKey: "" } };
    }
    let accessKeyId: string;
    try {
      accessKeyId = (await verifySigV4(req, "execute-api", this.credentials)).accessKeyId;
    } catch (e) {
      if (e instanceof AwsJsonError) return refusal(e.message);
      throw e;
    }
    const caller = this.callers.get(accessKeyId);
    if (!caller) return refusal("The security token included in the request is invalid.");
    if (caller.expiresAt !== null && Date.now() > caller.expiresAt) {
      return refusal("The security token included in the request is expired");
    }
    // A session's key goes with its session token; a user's long-lived key with none.
    if ((req.headers["x-amz-security-token"] ?? null) !== caller.sessionToken) {
      return refusal("The security token included in the request is invalid.");
    }
    const route = routeOf(req.method, path);
    if (!route || !allows(caller.role, route.access)) {
      return refusal(accessDeniedMessage(req.method.toUpperCase(), path));
    }
    return { ok: true, identity: { ...caller.identity, accessKey: accessKeyId } };
  }
}
