import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/sequencer.js";

// Two projects: `unit` needs nothing but Node; `hosts` needs libvirt/qemu and the local cloud. They run
// at once (one groupOrder, and so, vitest requires, one maxWorkers), ten files at a time, the longest host
// files first and the unit files last (test/support/sequencer.ts). Vitest's default on 2 cores is one
// worker: every file after the other. The host files mostly wait (detection windows, SSM's timings, qemu),
// and add up to about 2,900 s: six at a time took 484 s (the longest, host-drain, 218 s); the unit files
// compute, about 90 s of it, and fill the workers the host files free. Every host file starts its own
// local cloud (its own Unix users, ports, folders): nothing is shared between two of them.
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
          maxWorkers: 10,
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
          maxWorkers: 10,
        },
      },
    ],
  },
});
