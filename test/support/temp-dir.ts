/**
 * A temporary folder for one test file. Its path is chosen at import (so that tables of test cases may name
 * paths in it), but the folder is made only before the file's tests run and removed after them: a run that
 * filters every test of the file out (`-t`) runs none of its hooks, and a folder made at import would be
 * left behind.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";

export function useTempDir(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}${process.pid}-${randomBytes(4).toString("hex")}`);
  // Not recursive: an existing folder of that name is an error, never shared.
  beforeAll(() => mkdirSync(dir, { mode: 0o700 }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
