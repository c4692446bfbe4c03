import { defineConfig } from "vitest/config";

// Two projects: `unit` needs nothing but Node; `hosts` needs libvirt/qemu and the local cloud.
// Host tests share the machine's 2 cores with qemu, so they run one file at a time.
export default defineConfig({
  test: {
    // A test's console output is shown only when the test fails (vitest's buffer-and-print-on-failure).
    // Set at the root: the reporter reads it there, for both projects.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
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
          fileParallelism: false,
        },
      },
    ],
  },
});
