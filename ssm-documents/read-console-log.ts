import { LAYOUT } from "#shared/hosts/layout.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID, INSTANCES_PATH } from "./parameters.js";

/** At most this much of the log travels back (SSM keeps 24,000 characters of a command's output). */
export const CONSOLE_LOG_MAX_BYTES = 20_000;
/** The most lines a caller may ask for (nova's `length` has no bound; the byte cap is reached long before). */
export const CONSOLE_LOG_MAX_LINES = 999_999;

/**
 * nova's `os-getConsoleOutput`: the serial console's log `<instancesPath>/<uuid>/console.log` (every Lazarus
 * domain writes its console there), its last `lines` lines or all of it (`lines` empty), then at most
 * CONSOLE_LOG_MAX_BYTES. No log yet: nothing.
 */
export const READ_CONSOLE_LOG: HostDocument<"uuid" | "instancesPath" | "lines"> = {
  id: "read-console-log",
  description:
    "Lazarus: print the end of an instance's serial console log <instancesPath>/<uuid>/console.log.",
  parameters: {
    uuid: DOMAIN_UUID,
    instancesPath: INSTANCES_PATH,
    lines: {
      description: "The last this many lines (empty: the whole log); at most 20,000 bytes either way.",
      allowedPattern: "^([0-9]|[1-9][0-9]{1,5})?$",
      maxChars: 6,
      default: "",
    },
  },
  script: () => [
    `lz_log="\${instancesPath%/}/$uuid/${LAYOUT.consoleLog}"`,
    'if [ ! -f "$lz_log" ]; then exit 0; fi',
    'if [ -z "$lines" ]; then',
    `  tail -c ${CONSOLE_LOG_MAX_BYTES} -- "$lz_log"`,
    "else",
    `  tail -n "$lines" -- "$lz_log" | tail -c ${CONSOLE_LOG_MAX_BYTES}`,
    "fi",
  ],
  executionTimeoutSeconds: 30,
};
