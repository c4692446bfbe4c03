/** Debian's openstackclient, unchanged, against a Lazarus API: as an operator's terminal runs it. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** openstackclient's global options: no auth, the API at `apiUrl`, compute 2.92 (its newest). */
export function openstackOptions(apiUrl: string): string[] {
  return ["--os-auth-type", "none", "--os-endpoint", `${apiUrl}/v2.1`, "--os-compute-api-version", "2.92"];
}

/**
 * `openstack ARGS` against `apiUrl`; expects exit 0, returns the `-f json` output parsed (after what
 * `--wait` prints before it, e.g. "Complete"; null: no JSON).
 */
export function openstackAt(apiUrl: string, ...args: string[]): Promise<unknown> {
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/openstack",
      [...openstackOptions(apiUrl), ...args],
      { cwd: ROOT, timeout: 240_000, killSignal: "SIGKILL", maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        expect(
          err ? (typeof err.code === "number" ? err.code : 1) : 0,
          `openstack ${args.join(" ")}: ${stderr}`,
        ).toBe(0);
        const out = String(stdout);
        const at = out.search(/^[[{]/m);
        resolve(at < 0 ? null : JSON.parse(out.slice(at)));
      },
    );
  });
}
