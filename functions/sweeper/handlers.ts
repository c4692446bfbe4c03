/** The sweeper's Lambda handler: run on a schedule (EventBridge), ignores its event. */
import { z } from "zod";
import { stepHandler } from "#shared/lambda/handler.js";
import { sweep as sweepStep } from "./sweep.js";

export const sweep = stepHandler(z.unknown(), (deps) => sweepStep(deps), { name: "sweep" });
