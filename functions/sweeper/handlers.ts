/** The sweeper's Lambda handler: run on a schedule (EventBridge), one run at a time; ignores its event. */
import { z } from "zod";
import { SWEEPER_FUNCTION } from "#shared/definitions/functions.js";
import { stepHandler } from "#shared/lambda/handler.js";
import { oneRunAtATime } from "#shared/lambda/schedule-lease.js";
import { sweep as sweepStep } from "./sweep.js";

export const sweep = stepHandler(
  z.unknown(),
  (deps) => oneRunAtATime(deps.stores.leases, SWEEPER_FUNCTION, () => sweepStep(deps)),
  { name: "sweep" },
);
