/**
 * The order vitest starts test files in: the host files known to run longest first, then the other host
 * files, then the unit files, each group in vitest's own order (by the last run's durations, kept in
 * node_modules/.vite; by file size when there are none, as in a fresh clone). Both projects share the
 * workers: a long host file started last would run alone at the end while the others sit idle (and a short
 * file, chaos.test.ts is 49 lines, is not a short run); the unit files are short and fill the end.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Host files that run longest, longest first (a fresh clone's `bash .ci/run` on 2 cores, six host files at a time). */
export const LONGEST_HOST_FILES = [
  "test/hosts/host-drain.test.ts",
  "test/hosts/chaos.test.ts",
  "test/hosts/ipmi-fencing.test.ts",
  "test/hosts/paging.test.ts",
  "test/hosts/host-reset.test.ts",
  "test/hosts/watchdog.test.ts",
  "test/hosts/shell-injection.test.ts",
  "test/hosts/host-failure.test.ts",
  "test/hosts/proof-of-death.test.ts",
  "test/hosts/chaos-guard.test.ts",
  "test/hosts/console.test.ts",
  "test/hosts/api-clients-lifecycle.test.ts",
  "test/hosts/fencing-lock-evacuation.test.ts",
  "test/hosts/fencing-giveup.test.ts",
  "test/hosts/flow-safety.test.ts",
  "test/hosts/migration.test.ts",
  "test/hosts/mass-failure.test.ts",
  "test/hosts/host-maintenance.test.ts",
];

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // The listed host files longest first, then the other host files, then the unit files: the unit
    // files are short and fill the workers the host files free at the end.
    const rank = (spec: TestSpecification) => {
      const i = LONGEST_HOST_FILES.findIndex((f) => spec.moduleId.endsWith(`/${f}`));
      if (i >= 0) return i;
      return spec.project.name === "hosts" ? LONGEST_HOST_FILES.length : LONGEST_HOST_FILES.length + 1;
    };
    // Array.prototype.sort is stable: groups and vitest's order otherwise are kept.
    return sorted.sort((a, b) => {
      const group = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
      return group !== 0 ? group : rank(a) - rank(b);
    });
  }
}
