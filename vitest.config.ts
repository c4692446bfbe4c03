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
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "hosts",
          include: ["test/hosts/**/*.test.ts"],
          testTimeout: 240_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
