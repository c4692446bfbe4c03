/**
 * Stand-ins at the process boundary of the delegate's fence document (ssm-documents/fence-through-delegate.ts),
 * for unit tests that run it as SSM and the agent would (test/support/document-runner.ts): the AWS CLI (the credential read), `fence_redfish` (no Redfish simulator is
 * packaged for Debian 12) and the `ipmitool` that the real `fence_ipmilan` reaches through the script's
 * wrapper. Each records what it was given in the log folder; the power they report is a file.
 *   - aws: the secret `STUB_SECRET` for ids ending in "/ok", a password with a line break for "/nl", else
 *     Secrets Manager's ResourceNotFoundException.
 *   - fence_redfish: its argument count, its standard input; refuses every call when `<log>/refuse` exists;
 *     prints the password it got on stderr (the script must mask it).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostCommand } from "#shared/hosts/host-command.js";
import { runHostCommand } from "./document-runner.js";

export const STUB_SECRET = "s3cr3t-Pa55word";

export interface FenceStubs {
  dir: string;
  log: string;
  /** The environment a delegate's script runs with here (PATH first through the stand-ins). */
  env: Record<string, string>;
  /** Runs the command as a delegate's agent would, from the power state given. */
  run(command: HostCommand, power?: "on" | "off"): { code: number | null; stdout: string; stderr: string };
  /** A file the stand-ins wrote ("" when none). */
  read(file: string): string;
  /** Forgets what they recorded, and sets the power. */
  reset(power?: "on" | "off"): void;
  refuse(on: boolean): void;
  remove(): void;
}

export function makeFenceStubs(): FenceStubs {
  const dir = mkdtempSync(join(tmpdir(), "lz-fence-stubs-"));
  const bin = join(dir, "bin");
  const log = join(dir, "log");
  mkdirSync(bin);
  mkdirSync(log);
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  stub(
    "aws",
    `printf '%s\\n' "$*" >> "${log}/aws.args"
case "$*" in
  *"--secret-id lazarus/bmc/ok"* | *"--name /lazarus/bmc/ok"*) printf '%s\\n' "$STUB_SECRET" ;;
  *"--secret-id lazarus/bmc/nl"*) printf 'one\\ntwo\\n' ;;
  *) echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret." >&2; exit 254 ;;
esac`,
  );
  stub(
    "fence_redfish",
    `echo "$#" > "${log}/redfish.argc"
input=$(cat); printf '%s\\n' "$input" >> "${log}/redfish.stdin"
action=$(printf '%s\\n' "$input" | sed -n 's/^action=//p')
pw=$(printf '%s\\n' "$input" | sed -n 's/^password=//p')
echo "debug: logging in with $pw" >&2
if [ -f "${log}/refuse" ]; then echo "Failed: Unable to obtain correct plug status or plug is not available" >&2; exit 1; fi
case "$action" in
  off) echo off > "${log}/power"; echo "Success: Powered OFF" ;;
  on) echo on > "${log}/power"; echo "Success: Powered ON" ;;
  status) if [ "$(cat "${log}/power")" = on ]; then echo "Status: ON"; exit 0; else echo "Status: OFF"; exit 2; fi ;;
esac`,
  );
  stub(
    "ipmitool",
    `printf '%s\\n' "$*" >> "${log}/ipmitool.args"
[ "$IPMI_PASSWORD" = "$STUB_SECRET" ] && echo env-ok >> "${log}/ipmitool.env"
case "$*" in
  *"chassis power status"*) echo "Chassis Power is $(cat "${log}/power")" ;;
  *"chassis power off"*) echo off > "${log}/power"; echo "Chassis Power Control: Down/Off" ;;
  *"chassis power on"*) echo on > "${log}/power"; echo "Chassis Power Control: Up/On" ;;
esac`,
  );
  const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, STUB_SECRET, HOME: dir, TMPDIR: dir };
  const read = (f: string) => (existsSync(join(log, f)) ? readFileSync(join(log, f), "utf8") : "");
  const reset = (power: "on" | "off" = "on") => {
    for (const f of ["redfish.stdin", "redfish.argc", "ipmitool.args", "ipmitool.env", "aws.args"])
      rmSync(join(log, f), { force: true });
    writeFileSync(join(log, "power"), `${power}\n`);
  };
  return {
    dir,
    log,
    env,
    read,
    reset,
    run(command, power = "on") {
      reset(power);
      const r = runHostCommand(command, { env, isolated: true });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    refuse(on) {
      if (on) writeFileSync(join(log, "refuse"), "");
      else rmSync(join(log, "refuse"), { force: true });
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
