/**
 * One script, several named outputs. A read that needs several commands on a host (dominfo and
 * dumpxml, nodeinfo and capabilities) runs them in one SSM command and prints each output under a
 * marker line. A section can be gzip-compressed and base64-encoded on the host: SSM returns at most
 * 24,000 characters of stdout, and a domain or capabilities XML can come close; compressed, a cut
 * output fails to decode instead of being misread.
 */
import { gunzipSync } from "node:zlib";
import { InvalidInput } from "../domain/errors.js";

/** The line that opens a section: `@@lazarus-section <name>[ gz]`; `@@lazarus-section end` closes the output. */
export const SECTION_MARKER = "@@lazarus-section";
const MARKER = SECTION_MARKER;
const NAME = /^[a-z][a-z0-9-]{0,62}$/;
/** GetCommandInvocation's StandardOutputContent limit: output this long may have been cut. */
export const SSM_STDOUT_LIMIT = 24_000;

export interface ScriptSection {
  /** Lower-case name, unique in the script. */
  name: string;
  /** Lines already built and quoted (see shell.ts); their stdout is the section's content. */
  lines: readonly string[];
  /** gzip + base64 on the host, decoded by parseSections. */
  compressed?: boolean;
}

/** Script lines that print every section under its marker (put them in a `shellScript`). */
export function sectionLines(sections: readonly ScriptSection[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of sections) {
    if (!NAME.test(s.name) || seen.has(s.name)) {
      throw new InvalidInput(`invalid section name ${JSON.stringify(s.name)} (or used twice)`);
    }
    seen.add(s.name);
    // A leading newline: the previous command's output may not end with one.
    out.push(`printf '\\n%s\\n' '${MARKER} ${s.name}${s.compressed ? " gz" : ""}'`);
    if (s.compressed) out.push("(", ...s.lines, ") | gzip -c | base64 -w0", "echo");
    else out.push(...s.lines);
  }
  out.push(`printf '\\n%s\\n' '${MARKER} end'`);
  return out;
}

/** Splits the output of a `sectionLines` script into name -> content (compressed ones decoded). */
export function parseSections(stdout: string): Record<string, string> {
  const lines = stdout.split("\n");
  const result: Record<string, string> = {};
  let current: { name: string; gz: boolean; body: string[] } | null = null;
  let ended = false;
  const close = () => {
    if (!current) return;
    const body = current.body.join("\n");
    result[current.name] = current.gz ? gunzipBase64(current.name, body) : body;
    current = null;
  };
  for (const line of lines) {
    if (line.startsWith(`${MARKER} `)) {
      close();
      const [name, flag] = line.slice(MARKER.length + 1).split(" ");
      if (name === "end") {
        ended = true;
        break;
      }
      current = { name: name ?? "", gz: flag === "gz", body: [] };
    } else if (current) {
      current.body.push(line);
    }
  }
  if (!ended) {
    const cut = stdout.length >= SSM_STDOUT_LIMIT ? " (longer than SSM's 24,000-character output)" : "";
    throw new InvalidInput(`host output ended before its last section${cut}`, {
      sections: Object.keys(result),
      length: stdout.length,
    });
  }
  return result;
}

function gunzipBase64(name: string, text: string): string {
  const b64 = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new InvalidInput(`section ${name}: not base64`, { section: name });
  }
  try {
    return gunzipSync(Buffer.from(b64, "base64")).toString("utf8");
  } catch (e) {
    throw new InvalidInput(`section ${name}: not gzip data (cut output?)`, { section: name }, { cause: e });
  }
}
