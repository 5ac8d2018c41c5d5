import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "shared/**/*.test.ts",
            "cli/**/*.test.ts",
            "services/**/*.test.ts",
            "schemas/**/*.test.ts",
            "test/unit/**/*.test.ts",
            "tools/**/*.test.ts",
          ],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "chaos",
          include: ["test/chaos/**/*.test.ts"],
          environment: "node",
          testTimeout: 600_000,
          hookTimeout: 180_000,
          // The chaos tests share the stages' consumer groups and the outbox's port.
          fileParallelism: false,
        },
      },
    ],
  },
});
