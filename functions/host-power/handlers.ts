/** The host-power Lambda: an operator's power action on a host, invoked (asynchronously) by the API. */
import { HostPowerRequest } from "#shared/flow/host-power.js";
import { handlerWith } from "#shared/lambda/handler.js";
import { hostPowerDepsFromEnv } from "#shared/lambda/host-failure-runtime.js";
import type { InvocationTelemetry } from "#shared/lambda/observability.js";
import { containerFromEnv } from "#shared/lambda/runtime.js";
import { type PowerStepDeps, powerHost } from "./power.js";

function deps(env: NodeJS.ProcessEnv, telemetry: InvocationTelemetry): PowerStepDeps {
  return {
    power: hostPowerDepsFromEnv(env, telemetry),
    deadlineSeconds: containerFromEnv(env).settings.powerDeadlineSeconds,
  };
}

export const power = handlerWith(deps, HostPowerRequest, powerHost, {
  correlationKeys: (req) => ({ host: req.host, requestId: req.requestId }),
});
