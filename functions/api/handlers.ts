/** The API's Lambda handler: an API Gateway proxy event in, nova's answer out (routes in routes/). */
import { apiDepsFromEnv } from "./deps.js";
import { type ProxyEvent, toApiRequest, toProxyResult } from "./lambda-event.js";
import { createRouter } from "./router.js";
import { ROUTES } from "./routes/index.js";

const route = createRouter(ROUTES);

export const api = async (event: ProxyEvent) =>
  toProxyResult(await route(toApiRequest(event), apiDepsFromEnv()));
