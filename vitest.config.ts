import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/sequencer.js";

// Two projects: `unit` needs nothing but Node; `hosts` needs libvirt/qemu and the local cloud. They run
// at once (one groupOrder): the host files mostly wait (detection windows, SSM's timings), so the unit
// project's computing fits beside them; a unit failure still shows within its first two minutes. Without a
// maxWorkers of their own, vitest gives each project cores - 1 workers: one on a 2-core machine, every file
// one after another. Each runs a few files at once (unit three, hosts nine): every host file starts its own
// local cloud (its own Unix users, ports, folders), nothing is shared between two of them. The host files
// add up to about 2,900 s; six at a time took 484 s (the longest, host-drain, 218 s); beside a chaos run
// they took 1,100 s two at a time, 564 s four, 457 s six, once the timing-bound files waited for events
// only. The longest files start first (test/support/sequencer.ts) so that none runs alone at the end.
export default defineConfig({
  test: {
    // A test's console output is shown only when the test fails (vitest's buffer-and-print-on-failure).
    // Set at the root: the reporter reads it there, for both projects.
    silent: "passed-only",
    // The host files known to run longest start first (test/support/sequencer.ts).
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          sequence: { groupOrder: 0 },
          maxWorkers: 3,
          // Generous: the property tests run thousands of cases and share 2 cores with the host tests'
          // qemu. Tests assert behaviour; speed lives in `npm run bench`.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // The Lambdas' Powertools logs and metrics go through the console (POWERTOOLS_DEV: indented
          // JSON on `console`, not straight to stdout), which `silent` below shows for failed tests only.
          // A test that reads the log lines (observability) unsets it and reads stdout as CloudWatch would.
          env: { POWERTOOLS_DEV: "true" },
        },
      },
      {
        test: {
          name: "hosts",
          include: ["test/hosts/**/*.test.ts"],
          testTimeout: 480_000,
          hookTimeout: 480_000,
          sequence: { groupOrder: 0 },
          maxWorkers: 9,
        },
      },
    ],
  },
});
