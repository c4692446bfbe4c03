/**
 * The deployment's settings: cdk/lazarus.config.json, or the file named by `-c lazarusConfig=<path>`.
 * Validated here so that a typo fails `cdk synth` with the field's name instead of deploying a surprise.
 */

import { readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_HOST_FAILURE_CONFIG, EVACUATION_POLICIES } from "#shared/definitions/evacuation.js";
import { HEARTBEAT_INTERVAL_SECONDS, HEARTBEAT_MISSED_PERIODS } from "#shared/definitions/heartbeat.js";
import { BMC_CREDENTIAL_PATH_PATTERN, HOST_ROLE_GROUP_PATTERN } from "#shared/definitions/host-role.js";
import { DEFAULT_HOST_PROBE_DEADLINE_MS } from "#shared/definitions/timeouts.js";
import { DEFAULT_PREFIX } from "#shared/store/tables.js";

/** BMC password paths a host role may read (Secrets Manager name prefixes, SSM parameter paths). */
const BmcCredentialPaths = z.array(
  z
    .string()
    .max(256)
    .regex(BMC_CREDENTIAL_PATH_PATTERN, "a path like lazarus/bmc/oob-a/ (no leading /, ends in /)"),
);

export const LazarusConfig = z
  .object({
    /** Names of deployed resources: `<prefix>-<id>` (functions, state machines, alarms, bus). */
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,20}$/)
      .default(DEFAULT_PREFIX),
    /**
     * Removed: registration creates each host's heartbeat alarm (and deregistration deletes it), so the
     * stack lists no hosts. An empty list is accepted from older configuration files.
     */
    hosts: z
      .array(z.string())
      .max(0, {
        message:
          "hosts is no longer read: registering a host creates its heartbeat alarm (lazarus host register); remove the list",
      })
      .optional(),
    heartbeat: z
      .object({
        /** Consecutive 10 s periods without a beat before the alarm fires (3: ALARM 30-40 s after the last beat). */
        missedPeriods: z.number().int().min(1).max(30).default(HEARTBEAT_MISSED_PERIODS),
        /**
         * The longest heartbeat interval of any host (its `heartbeat.intervalSeconds`): the mass-failure
         * guard reads the fleet's heartbeats with it (LAZARUS_HEARTBEAT_INTERVAL_SECONDS). At most half the
         * alarm's 10 s period.
         */
        intervalSeconds: z.number().positive().max(5).default(HEARTBEAT_INTERVAL_SECONDS),
      })
      .prefault({}),
    /**
     * A dead host's evacuation (LAZARUS_EVACUATION_POLICY, LAZARUS_EVACUATION_MAX_CONCURRENCY): which
     * instances (Masakari's two policies) and how many child evacuations run at once per host, up to the
     * inline Map's 40.
     */
    evacuation: z
      .object({
        policy: z.enum(EVACUATION_POLICIES).default(DEFAULT_HOST_FAILURE_CONFIG.policy),
        maxConcurrency: z.number().int().min(1).max(40).default(DEFAULT_HOST_FAILURE_CONFIG.maxConcurrency),
      })
      .strict()
      .prefault({}),
    logRetentionDays: z
      .union([z.literal(7), z.literal(14), z.literal(30), z.literal(90), z.literal(365)])
      .default(30),
    logLevel: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]).default("INFO"),
    /** Overall wait for one host command (SSM Run Command) before a step gives up on the host. */
    hostCommandDeadlineSeconds: z.number().int().min(30).max(600).default(120),
    /**
     * How long the liveness probe of a host whose heartbeat alarmed may go unanswered before the host counts
     * as dead (and the deadline of a domain-state probe): every automatic evacuation waits for it after the
     * alarm. Shorter fences a live host whose heartbeats stopped and whose SSM answer is slower (docs/DEPLOY.md).
     */
    hostProbeDeadlineSeconds: z
      .number()
      .int()
      .min(3)
      .max(300)
      .default(DEFAULT_HOST_PROBE_DEADLINE_MS / 1000),
    /**
     * Who is paged: subscriptions of the page topic (`<prefix>-page`), which gets every paging alarm and
     * operator alert. Email and SMS subscriptions must be confirmed by their owner once deployed.
     */
    paging: z
      .object({
        subscriptions: z
          .array(
            z
              .object({
                protocol: z.enum(["email", "sms", "https"]),
                endpoint: z.string().min(3).max(2048),
              })
              .strict(),
          )
          .default([]),
      })
      .prefault({}),
    /**
     * The KVM hosts' roles (cdk/host-role.ts). `<prefix>-host`: a BMC-fencing delegate holding it reads the
     * BMC passwords under `bmcCredentialPaths` only (Secrets Manager name prefixes and SSM parameter paths,
     * e.g. `lazarus/bmc/oob-a/`: one per BMC network; empty: none, no BMC fencing through it). `groups`: one
     * more role each, `<prefix>-host-<name>`, reading its own paths only, for hosts that reach only those
     * BMC networks: a host of one group cannot read another network's passwords.
     */
    hostRole: z
      .object({
        bmcCredentialPaths: BmcCredentialPaths.default([]),
        groups: z
          .array(
            z
              .object({
                name: z
                  .string()
                  .regex(HOST_ROLE_GROUP_PATTERN, "a group name like rack-a (a-z, 0-9, -; 1-20)"),
                bmcCredentialPaths: BmcCredentialPaths.min(1),
              })
              .strict(),
          )
          .default([])
          .refine(
            (groups) => new Set(groups.map((g) => g.name)).size === groups.length,
            "group names repeat",
          ),
      })
      .strict()
      .prefault({}),
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
  return parsed.data;
}
