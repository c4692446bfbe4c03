/** `npm run console:build [DIR]`: the console's files into DIR (default console/dist), config.json aside. */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { buildConsoleInto } from "./build.js";

const dir = resolve(process.argv[2] ?? new URL("dist", import.meta.url).pathname);
for (const file of buildConsoleInto(dir)) process.stdout.write(`${file} (${statSync(file).size} bytes)\n`);
