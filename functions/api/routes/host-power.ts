/**
 * A host's power, through its own power fence (a BMC's fence agent on a delegate host, or EC2):
 *  - POST /os-hosts/{host}/power `{"power": {"action": "status"|"off"|"on"|"cycle", "force"?: bool}}`
 *  - POST /os-hosts/{host}/fence-test (`status` through a delegate: would the fence work now?)
 *  - GET  /os-hosts/{host}/power: the fence, who would be the delegates now, and the power log.
 * The actions run in the host-power function (a BMC may take longer than API Gateway's 29 s): the API
 * checks the request, hands it over and answers 202 with its id; its record (outcome, delegate, every
 * answer and its time, who asked) appears in the host's power log under that id. Off and cycle need a
 * disabled host, and `force` while instances are on it (`powerActionRefusal`). The BMC's password is never
 * here: the host record holds only a reference to it, which the answers show.
 */
import { z } from "zod";
import {
  OPERATOR_POWER_ACTIONS,
  type OperatorPowerAction,
  powerActionRefusal,
} from "#shared/domain/power-control.js";
import type { Host } from "#shared/domain/schemas.js";
import { delegatesFor } from "#shared/flow/host-power.js";
import { ApiError, json, parseOr400 } from "../http.js";
import type { Route, RouteContext } from "../router.js";
import { requireHost } from "./hosts.js";
import { hostName } from "./params.js";

/** Delegates the power view lists (the first ones that may act now; the fence tries the first few). */
const MAX_SHOWN_DELEGATES = 10;

const PowerBody = z.strictObject({
  power: z.strictObject({
    action: z.enum(
      OPERATOR_POWER_ACTIONS.filter((a) => a !== "fence-test") as ["status", "off", "on", "cycle"],
    ),
    force: z.boolean().default(false),
  }),
});

function start(ctx: RouteContext, name: string, action: OperatorPowerAction, force: boolean) {
  return ctx.once(async (requestId) => {
    const { host } = await requireHost(ctx, name);
    const refusal = powerActionRefusal(host, action, { force });
    if (refusal) throw new ApiError(409, refusal);
    if (!ctx.deps.hostPower)
      throw new ApiError(
        501,
        "Host power control is not available here: the host-power function is not wired into this API.",
      );
    await ctx.deps.hostPower.start({
      host: name,
      action,
      requestId,
      requestedBy: ctx.req.principal ?? "api (anonymous)",
      force,
    });
    return json(
      202,
      { power: { id: requestId, host: name, action, method: host.fencing.power } },
      { "x-lazarus-request-id": requestId },
    );
  });
}

async function powerAction(ctx: RouteContext) {
  const name = hostName(ctx);
  const body = parseOr400(PowerBody, ctx.body(), "");
  return start(ctx, name, body.power.action, body.power.force);
}

async function fenceTest(ctx: RouteContext) {
  return start(ctx, hostName(ctx), "fence-test", false);
}

/** The host's fence as an operator reads it: the BMC settings (a reference to the password only). */
function fenceView(host: Host) {
  const { power, bmc, bmcNetworks, watchdog, diskLocks } = host.fencing;
  return {
    power,
    watchdog,
    disk_locks: diskLocks,
    bmc_networks: bmcNetworks,
    bmc: bmc && {
      address: bmc.address,
      port: bmc.port,
      network: bmc.network,
      username: bmc.username,
      credentials: bmc.credentials,
      ...(power === "ipmi" ? { lanplus: bmc.lanplus, cipher: bmc.cipher } : {}),
      ...(power === "redfish" ? { verify_tls: bmc.verifyTls, systems_uri: bmc.systemsUri } : {}),
    },
  };
}

async function showPower(ctx: RouteContext) {
  const { host } = await requireHost(ctx, hostName(ctx));
  const delegates =
    host.fencing.bmc === null
      ? null
      : (
          await delegatesFor(
            { stores: ctx.deps.stores, now: ctx.deps.now, serviceDownSeconds: ctx.deps.serviceDownSeconds },
            host,
            MAX_SHOWN_DELEGATES,
          )
        ).choice;
  return json(200, {
    power: {
      host: host.name,
      fence: fenceView(host),
      delegates: delegates && {
        now: delegates.delegates,
        passed_over: delegates.passedOver,
        reason: delegates.reason,
      },
      // Newest first.
      log: [...host.powerLog].reverse(),
    },
  });
}

export const hostPowerRoutes: Route[] = [
  { method: "GET", pattern: "/os-hosts/{host}/power", handler: showPower },
  { method: "POST", pattern: "/os-hosts/{host}/power", handler: powerAction },
  { method: "POST", pattern: "/os-hosts/{host}/fence-test", handler: fenceTest },
];
