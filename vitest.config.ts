import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const alias = { "@hermes/proto": fileURLToPath(new URL("./proto/src/index.ts", import.meta.url)) };

// unit: pure logic, fake clocks. component: in-process gRPC on loopback.
// integration: real `hermes` processes (needs `npm run build` first; `npm test` does it).
export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: "unit", include: ["node/test/unit/**/*.test.ts"], testTimeout: 20_000 },
      },
      {
        resolve: { alias },
        test: { name: "component", include: ["node/test/component/**/*.test.ts"], testTimeout: 30_000 },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
