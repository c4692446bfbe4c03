/** `npm run console:build [DIR]`: the console's files into DIR (default console/dist), config.json aside. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildConsole } from "./build.js";

const dir = resolve(process.argv[2] ?? new URL("dist", import.meta.url).pathname);
mkdirSync(dir, { recursive: true });
for (const [name, body] of await buildConsole()) {
  writeFileSync(join(dir, name), body);
  process.stdout.write(`${join(dir, name)} (${body.length} bytes)\n`);
}
