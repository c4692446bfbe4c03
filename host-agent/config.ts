/**
 * Reading `/etc/lazarus/host.json` (or `--config PATH`, or `$LAZARUS_HOST_CONFIG`) against its one
 * definition (shared/definitions/host-config.ts). Any problem is a `HostConfigError` naming each bad key,
 * raised before the agent sends anything.
 */
import { readFileSync } from "node:fs";
import {
  configIssues,
  HOST_CONFIG_ENV,
  HOST_CONFIG_PATH,
  HostConfig,
  hostConfigIssues,
} from "#shared/definitions/host-config.js";

/** The configuration cannot be used: the message names the file and every bad key. */
export class HostConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`${path}: ${problems.join("; ")}`);
    this.name = "HostConfigError";
  }
}

/** The file the agent reads: `--config`, else $LAZARUS_HOST_CONFIG, else /etc/lazarus/host.json. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env[HOST_CONFIG_ENV] ?? HOST_CONFIG_PATH;
}

export function loadHostConfig(path: string): HostConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new HostConfigError(path, [`cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HostConfigError(path, [`not JSON (${e instanceof Error ? e.message : String(e)})`]);
  }
  const parsed = HostConfig.safeParse(json);
  if (!parsed.success) throw new HostConfigError(path, configIssues(parsed.error));
  const problems = hostConfigIssues(parsed.data);
  if (problems.length > 0) throw new HostConfigError(path, problems);
  return parsed.data;
}
