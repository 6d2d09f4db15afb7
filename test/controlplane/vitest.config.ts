import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Control-plane tests: etcd + kube-apiserver processes, the chart, the operator as a process.
// Until the root config has this project: npx vitest run --config test/controlplane/vitest.config.ts
export default defineConfig({
  test: {
    name: "controlplane",
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/controlplane/**/*.test.ts"],
    globalSetup: ["test/controlplane/global-setup.ts"],
    // One API server and one operator Lease for the run: files go one after another.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
