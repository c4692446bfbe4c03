import { defineConfig } from "vitest/config";

// Two projects: `unit` needs nothing but Node; `hosts` needs libvirt/qemu and the local cloud.
// Host tests share the machine's 2 cores with qemu, so they run one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // Generous: the property tests run thousands of cases and share 2 cores with the host tests'
          // qemu. Tests assert behaviour; speed lives in `npm run bench`.
          testTimeout: 120_000,
          hookTimeout: 120_000,
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
