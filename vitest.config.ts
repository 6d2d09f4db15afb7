import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const alias = { "@hermes/proto": fileURLToPath(new URL("./proto/src/index.ts", import.meta.url)) };

// unit: pure logic, fake clocks. component: in-process gRPC on loopback. operator: its pure parts.
// integration: real `hermes` processes, network namespaces, dnsmasq (needs `npm run build`).
// hostile: a real node process under attack from another process, a victim chat beside it (test/hostile/README.md).
// controlplane: etcd + kube-apiserver processes, the chart and the operator (hack/control-plane.sh).
// e2e: a real one-node cluster (hack/local-cluster.sh, or any cluster: test/e2e/global-setup.ts).
// chaos: faults on a mesh of real nodes in network namespaces, checked by SDK apps (test/chaos/README.md).
// hack/test.sh runs them one group after another: they share two cores.
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
        test: {
          name: "operator",
          root: "operator",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "controlplane",
          include: ["test/controlplane/**/*.test.ts"],
          globalSetup: ["test/controlplane/global-setup.ts"],
          // One API server and one operator Lease for the run: files go one after another.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          // One cluster, one HermesNode walked through the user's path: steps run in order.
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 1_200_000,
        },
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
      {
        test: {
          name: "hostile",
          include: ["test/hostile/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Each file runs a node and an attacker process: one at a time on two cores.
          fileParallelism: false,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "chaos",
          include: ["test/chaos/**/*.test.ts"],
          // The campaign test sets its own bound from the number of rounds.
          testTimeout: 20_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
