/**
 * The host agent's view of its boots (host-agent/boot.ts): the kernel's boot id and btime read from its
 * files, the last boot seen kept across restarts of the agent, a new boot only when one was seen before and
 * this one differs, and the shut-off domains libvirt lists (checked against real virsh output, the test
 * driver's, when virsh is here).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  currentBoot,
  isNewBoot,
  lastSeenBoot,
  parseShutOffDomains,
  rememberBoot,
  shutOffDomains,
} from "#host-agent/boot.js";
import { useTempDir } from "#test/support/temp-dir.js";

const work = useTempDir("lz-boot-");

function kernel(id: string, btime: number) {
  const idFile = join(work, "boot_id");
  const statFile = join(work, "stat");
  writeFileSync(idFile, `${id}\n`);
  writeFileSync(statFile, `cpu  1 2 3\nbtime ${btime}\nprocesses 42\n`);
  return { idFile, statFile };
}

describe("boots", () => {
  it("reads the boot id and the boot's time as the kernel gives them", () => {
    const files = kernel("0C4C1F6E-55D2-4B51-9B8A-5C2B7C1D7E01", 1_780_000_000);
    expect(currentBoot(files)).toEqual({
      id: "0c4c1f6e-55d2-4b51-9b8a-5c2b7c1d7e01",
      at: new Date(1_780_000_000_000).toISOString(),
    });
    writeFileSync(files.statFile, "cpu 1 2 3\n");
    expect(() => currentBoot(files)).toThrow(/btime/);
  });

  it("a new boot only after one was seen; the first run only remembers", () => {
    const a = { id: "a", at: "2026-01-01T00:00:00.000Z" };
    const b = { id: "b", at: "2026-01-01T01:00:00.000Z" };
    expect(isNewBoot(null, a)).toBe(false);
    expect(isNewBoot(a, a)).toBe(false);
    expect(isNewBoot(a, b)).toBe(true);
    const state = join(work, "state");
    expect(lastSeenBoot(state)).toBeNull();
    rememberBoot(state, a);
    expect(lastSeenBoot(state)).toEqual(a);
    writeFileSync(join(state, "boot.json"), "{not json");
    expect(lastSeenBoot(state)).toBeNull();
  });

  it("lists the shut-off domains as `<uuid> <name>` lines", () => {
    expect(
      parseShutOffDomains(
        "6695eb01-f6a4-8304-79aa-97f2502e193f instance-6695eb01-f6a4-8304-79aa-97f2502e193f\n" +
          "1B2C3D4E-0000-4000-8000-000000000001 web 1\n\nnot a line\n",
      ),
    ).toEqual([
      { uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f", name: "instance-6695eb01-f6a4-8304-79aa-97f2502e193f" },
      { uuid: "1b2c3d4e-0000-4000-8000-000000000001", name: "web 1" },
    ]);
  });

  const hasVirsh = spawnSync("virsh", ["--version"]).status === 0;
  it.skipIf(!hasVirsh)(
    "real virsh: the test driver's inactive domains, none of its running one",
    async () => {
      // The test driver's default domain "test" runs: `--inactive` lists nothing.
      expect(await shutOffDomains("test:///default", process.env)).toEqual([]);
      const all = spawnSync("virsh", ["-c", "test:///default", "list", "--all", "--uuid", "--name"], {
        encoding: "utf8",
      });
      expect(parseShutOffDomains(all.stdout).map((d) => d.name)).toEqual(["test"]);
    },
  );
});
