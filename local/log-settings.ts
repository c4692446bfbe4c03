/**
 * How the Lambdas log in the local cloud (see shared/lambda/observability.ts): readable lines on the
 * terminal's stderr, warnings and errors only unless asked for more. Any of these variables set in
 * the environment wins, so `LAZARUS_LOG_FORMAT=json` gives the exact CloudWatch Logs lines (and EMF).
 */
export function localLogEnv(
  env: NodeJS.ProcessEnv = process.env,
  opts: { verbose?: boolean } = {},
): Record<string, string> {
  const format = env.LAZARUS_LOG_FORMAT ?? "pretty";
  return {
    LAZARUS_LOG_FORMAT: format,
    POWERTOOLS_LOG_LEVEL: env.POWERTOOLS_LOG_LEVEL ?? (opts.verbose ? "INFO" : "WARN"),
    // EMF documents are JSON for CloudWatch; in the terminal the durations are in the log lines.
    POWERTOOLS_METRICS_DISABLED: env.POWERTOOLS_METRICS_DISABLED ?? (format === "pretty" ? "true" : "false"),
  };
}
