/** The `lazarus` CLI as an operator runs it, with `--json`: its exit code, its JSON document, its stderr. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface CliAnswer {
  code: number;
  doc: Record<string, unknown>;
  stderr: string;
}

/** `lazarus --json ARGS` against the API at `apiUrl`. */
export function lazarusJson(apiUrl: string, ...args: string[]): Promise<CliAnswer> {
  return new Promise((resolve) => {
    execFile(
      `${ROOT}cli/bin/lazarus`,
      ["--json", ...args],
      {
        cwd: ROOT,
        timeout: 420_000,
        killSignal: "SIGKILL",
        env: { ...process.env, LAZARUS_API_URL: apiUrl },
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        const text = String(stdout).trim();
        resolve({
          code,
          doc: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          stderr: String(stderr),
        });
      },
    );
  });
}
