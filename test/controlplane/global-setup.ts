import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { findBinaries } from "./support/binaries.js";
import { run } from "./support/cluster.js";
import { ControlPlane } from "./support/control-plane.js";

const REPO = resolve(import.meta.dirname, "../..");
export const RELEASE = { name: "hermes", namespace: "hermes-system", serviceAccount: "hermes-operator" };

/**
 * Once per run: checks the binaries, builds the operator, starts etcd + kube-apiserver, and
 * helm-installs the chart (CRDs from its crds/ folder, RBAC, the operator Deployment, which never
 * runs here for want of a kubelet; tests run the operator locally with its ServiceAccount).
 * Set HERMES_CP_KEEP=1 to keep the folder with logs and kubeconfigs after the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = findBinaries();
  const build = spawnSync("npx", ["tsc", "-b", "operator"], { cwd: REPO, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the operator failed:\n${build.stdout}${build.stderr}`);

  const dir = mkdtempSync(join(tmpdir(), "hermes-controlplane-"));
  const cp = await ControlPlane.start(binaries, dir);
  try {
    await run(binaries.helm, [
      `--kubeconfig=${cp.info.adminKubeconfig}`,
      "install",
      RELEASE.name,
      join(REPO, "charts/hermes"),
      "--namespace",
      RELEASE.namespace,
      "--create-namespace",
      "--set",
      "nodeImage.repository=hermes-node,nodeImage.tag=test",
    ]);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  project.provide("controlPlane", cp.info);
  project.provide("release", RELEASE);
  return async () => {
    await cp.stop();
    if (process.env.HERMES_CP_KEEP) console.log(`control plane files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
