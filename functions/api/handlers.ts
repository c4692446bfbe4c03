/**
 * The API's Lambda handler: an API Gateway proxy event in, nova's answer out (routes in routes/), through
 * the Lambdas' one handler: logged and measured per request, with the request's correlation keys.
 */
import { z } from "zod";
import { handlerWith } from "#shared/lambda/handler.js";
import { apiDepsFromEnv } from "./deps.js";
import { apiCorrelationKeys, type ProxyEvent, toApiRequest, toProxyResult } from "./lambda-event.js";
import { createRouter } from "./router.js";
import { ROUTES } from "./routes/index.js";

const route = createRouter(ROUTES);

/** API Gateway's event, as it sends it (the router answers any request, a malformed one with 400). */
const ProxyEventSchema = z.custom<ProxyEvent>((event) => typeof event === "object" && event !== null);

export const api = handlerWith(
  apiDepsFromEnv,
  ProxyEventSchema,
  async (deps, event) => toProxyResult(await route(toApiRequest(event), deps)),
  { name: "api", correlationKeys: apiCorrelationKeys },
);
