import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/sequencer.js";

// Two projects: `unit` needs nothing but Node; `hosts` needs libvirt/qemu and the local cloud.
// The unit project runs first (groupOrder 0), then the hosts (groupOrder 1). Without a maxWorkers of their
// own, vitest gives each project cores - 1 workers: one on a 2-core machine, every file one after another.
// Both projects wait more than they compute (DynamoDB, the hosts' detection windows, qemu), so each runs
// a few files at once (unit three, hosts six): every host file starts its own local cloud (its own Unix
// users, ports, folders), nothing is shared between two of them. Beside a chaos run, the host files took
// 1,100 s two at a time, 564 s four at a time and 457 s six at a time, once the timing-bound files waited for
// events only (the load average stays below 2 with four: they mostly wait). The longest files start first
// (test/support/sequencer.ts) so that none runs alone at the end.
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
          sequence: { groupOrder: 1 },
          maxWorkers: 6,
        },
      },
    ],
  },
});
