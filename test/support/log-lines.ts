/**
 * The Lambdas' log lines as CloudWatch Logs reads them: every JSON line written to stdout or stderr (the
 * Lambda runtime sends both; Powertools writes WARN and ERROR on stderr). For a test file that unsets
 * POWERTOOLS_DEV (`logAsInAws`), so the handlers write JSON lines to the streams instead of the console.
 *
 *   const logs = useLogLines();   // at the top of the file; logAsInAws() and resetDeps() in its beforeAll
 *   ... logs.lines                // this test's lines
 */
import { afterEach, beforeEach, vi } from "vitest";

export interface LogLines {
  /** The JSON lines of the running test, in order. */
  readonly lines: Record<string, unknown>[];
}

/**
 * The handlers log as in AWS from their next container on (call `resetDeps` after it): JSON lines on the
 * streams, every level, EMF metrics; the unit project's POWERTOOLS_DEV (the console) and any local log
 * setting unset.
 */
export function logAsInAws(env: NodeJS.ProcessEnv = process.env): void {
  for (const k of [
    "LAZARUS_LOG_FORMAT",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_DEV",
  ])
    delete env[k];
}

export function useLogLines(): LogLines {
  const capture = { lines: [] as Record<string, unknown>[] };
  beforeEach(() => {
    capture.lines = [];
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
      vi.spyOn(stream, "write").mockImplementation((chunk: unknown, ...rest: unknown[]) => {
        let json = 0;
        const texts = String(chunk)
          .split("\n")
          .filter((t) => t !== "");
        for (const text of texts) {
          try {
            capture.lines.push(JSON.parse(text) as Record<string, unknown>);
            json++;
          } catch {
            // not a log line
          }
        }
        // Log lines are read here, not shown; anything else (vitest's own output) goes through.
        return json === texts.length && json > 0 ? true : write(chunk, ...rest);
      });
    }
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return {
    get lines() {
      return capture.lines;
    },
  };
}
