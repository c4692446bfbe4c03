/**
 * The deployment's settings: cdk/lazarus.config.json, or the file named by `-c lazarusConfig=<path>`.
 * Validated here so that a typo fails `cdk synth` with the field's name instead of deploying a surprise.
 */

import { readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_PREFIX } from "#shared/store/tables.js";

/** A host name as it appears in the hosts table and in its heartbeat alarm's name. */
const HostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "host name: letters, digits, . _ -");

export const LazarusConfig = z
  .object({
    /** Names of deployed resources: `<prefix>-<id>` (functions, state machines, alarms, bus). */
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,20}$/)
      .default(DEFAULT_PREFIX),
    /**
     * The KVM hosts whose heartbeat is watched: one CloudWatch alarm each. Add a host once its heartbeat
     * publisher runs: a missing heartbeat counts as a dead host (an alarm with no data goes to ALARM).
     */
    hosts: z.array(HostName).default([]),
    heartbeat: z
      .object({
        /** Consecutive 10 s periods without a beat before the alarm fires (3: detection within 30 s). */
        missedPeriods: z.number().int().min(1).max(30).default(3),
      })
      .prefault({}),
    logRetentionDays: z
      .union([z.literal(7), z.literal(14), z.literal(30), z.literal(90), z.literal(365)])
      .default(30),
    logLevel: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]).default("INFO"),
    /** Overall wait for one host command (SSM Run Command) before a step gives up on the host. */
    hostCommandDeadlineSeconds: z.number().int().min(30).max(600).default(120),
    api: z
      .object({
        /** Steady requests per second and burst over the whole stage (API Gateway throttling). */
        rateLimit: z.number().positive().default(10),
        burstLimit: z.number().int().positive().default(20),
        /**
         * Set API Gateway's account-wide CloudWatch Logs role (needed once per account and region for
         * execution logs). Turn off when the account already has one managed elsewhere.
         */
        accountCloudWatchRole: z.boolean().default(true),
      })
      .prefault({}),
  })
  .strict();

export type LazarusConfig = z.infer<typeof LazarusConfig>;

export const DEFAULT_CONFIG_FILE = new URL("./lazarus.config.json", import.meta.url);

export function loadConfig(file: string | URL = DEFAULT_CONFIG_FILE): LazarusConfig {
  const raw: unknown = JSON.parse(readFileSync(file, "utf8"));
  const parsed = LazarusConfig.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid Lazarus configuration ${String(file)}:\n${z.prettifyError(parsed.error)}`);
  }
  const duplicates = parsed.data.hosts.filter((h, i, all) => all.indexOf(h) !== i);
  if (duplicates.length > 0)
    throw new Error(`hosts listed twice in ${String(file)}: ${duplicates.join(", ")}`);
  return parsed.data;
}
