/** The host-power Lambda: an operator's power action on a host, invoked (asynchronously) by the API. */
import { HostPowerRequest } from "#shared/flow/host-power.js";
import { positiveFromEnv } from "#shared/lambda/env.js";
import { handlerWith } from "#shared/lambda/handler.js";
import { hostPowerDepsFrom } from "#shared/lambda/host-failure-runtime.js";
import { depsFromEnv } from "#shared/lambda/runtime.js";
import { type PowerStepDeps, powerHost } from "./power.js";

function deps(): PowerStepDeps {
  return {
    power: hostPowerDepsFrom(depsFromEnv()),
    deadlineSeconds: positiveFromEnv(process.env.LAZARUS_POWER_DEADLINE_SECONDS, 60),
  };
}

export const power = handlerWith(deps, HostPowerRequest, powerHost);
