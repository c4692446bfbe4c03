/** Debian's openstackclient, unchanged, against a Lazarus API: as an operator's terminal runs it. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** `openstack ARGS` at 2.92 (its newest) against `apiUrl`; expects exit 0, returns `-f json` output parsed (null: none). */
export function openstackAt(apiUrl: string, ...args: string[]): Promise<unknown> {
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/openstack",
      [
        "--os-auth-type",
        "none",
        "--os-endpoint",
        `${apiUrl}/v2.1`,
        "--os-compute-api-version",
        "2.92",
        ...args,
      ],
      { cwd: ROOT, timeout: 240_000, killSignal: "SIGKILL", maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        expect(
          err ? (typeof err.code === "number" ? err.code : 1) : 0,
          `openstack ${args.join(" ")}: ${stderr}`,
        ).toBe(0);
        resolve(String(stdout).trim() ? JSON.parse(String(stdout)) : null);
      },
    );
  });
}
