import { defineConfig } from "vitest/config";

// Operator unit tests: pure builders, validation, status, PKI, queue and informer logic.
// From the repository root: npx vitest run --config operator/vitest.config.ts
export default defineConfig({
  test: {
    name: "operator",
    root: import.meta.dirname,
    include: ["test/unit/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
