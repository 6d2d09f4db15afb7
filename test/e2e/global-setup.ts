// Once per run of the e2e suite: a cluster, the images in it, and the Prometheus Operator with a
// Prometheus. Two ways to get the cluster, one list of checks (mesh.test.ts):
//   - default: hack/local-cluster.sh up (a one-node cluster on this machine), torn down afterwards
//     unless it was already up (then it is left as found);
//   - HERMES_E2E_KUBECONFIG=<file> HERMES_E2E_LOAD="<command>": any cluster (hack/kind-e2e.sh uses
//     kind); each image archive is passed to the load command as its last argument.
// HERMES_E2E_KEEP=1 leaves a cluster this run started up for debugging (hack/local-cluster.sh env).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { run } from "../controlplane/support/cluster.js";
import type { E2eCluster } from "./support/kube.js";

const REPO = resolve(import.meta.dirname, "../..");
const hack = (script: string) => join(REPO, "hack", script);
const TAG = "e2e";

/** Runs a hack script with its progress on the console; throws with its exit code. */
function script(name: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync("bash", [hack(name), ...args], {
    encoding: "utf8",
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0)
    throw new Error(`hack/${name} ${args.join(" ")} failed (exit ${r.status}); see its output above`);
  return r.stdout;
}

/** The path of each binary hack/control-plane.sh --cluster provides (building what is missing). */
function binaries(): (name: string) => string {
  const out = script("control-plane.sh", ["--cluster"]);
  const paths = new Map(
    out
      .trim()
      .split("\n")
      .map((l) => l.split("=", 2) as [string, string]),
  );
  return (name) => {
    const path = paths.get(name);
    if (!path) throw new Error(`hack/control-plane.sh --cluster gave no ${name}`);
    return path;
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = binaries();
  const given = process.env.HERMES_E2E_KUBECONFIG;
  let started = false;
  let kubeconfig = given ?? "";
  if (!given) {
    const up = spawnSync("bash", [hack("local-cluster.sh"), "status"]);
    if (up.status !== 0) {
      script("local-cluster.sh", ["up"]);
      started = true;
    }
    kubeconfig = script("local-cluster.sh", ["env"])
      .trim()
      .replace(/^export KUBECONFIG=/, "");
  }
  const teardown = async () => {
    if (started && !process.env.HERMES_E2E_KEEP) script("local-cluster.sh", ["down"]);
  };

  try {
    const out = mkdtempSync(join(tmpdir(), "hermes-e2e-images-"));
    const archives = [
      ...script("build-images.sh", ["--out", out, "--tag", TAG, "node", "operator"]).trim().split("\n"),
      ...script("build-images.sh", [
        "--out",
        out,
        "prometheus-operator",
        "prometheus-config-reloader",
        "prometheus",
      ])
        .trim()
        .split("\n"),
    ];
    // The image a rolling upgrade moves to: the same build under another tag (a new image ID).
    const next = mkdtempSync(join(tmpdir(), "hermes-e2e-images-next-"));
    archives.push(script("build-images.sh", ["--out", next, "--tag", `${TAG}-next`, "node"]).trim());
    if (given) {
      const load = process.env.HERMES_E2E_LOAD;
      if (!load)
        throw new Error(
          "HERMES_E2E_KUBECONFIG needs HERMES_E2E_LOAD: the command that loads an image archive",
        );
      for (const archive of archives)
        execFileSync("sh", ["-c", `${load} "$1"`, "load", archive], { stdio: "inherit" });
    } else {
      script("local-cluster.sh", ["load", ...archives]);
    }
    rmSync(out, { recursive: true, force: true });
    rmSync(next, { recursive: true, force: true });

    const kubectl = (args: string[], input?: string) =>
      run(bin("kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], { input });
    await kubectl(["apply", "--server-side", "-f", bin("prometheus-operator-crds")]);
    await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
    const monitoring = readFileSync(join(import.meta.dirname, "manifests/monitoring.yaml"), "utf8")
      .replaceAll("HERMES_PROMETHEUS_OPERATOR_IMAGE", "hermes.local/prometheus-operator:local")
      .replaceAll("HERMES_CONFIG_RELOADER_IMAGE", "hermes.local/prometheus-config-reloader:local")
      .replaceAll("HERMES_PROMETHEUS_IMAGE", "hermes.local/prometheus:local");
    await kubectl(["apply", "--server-side", "-f", "-"], monitoring);
    await kubectl([
      "-n",
      "monitoring",
      "rollout",
      "status",
      "deployment/prometheus-operator",
      "--timeout=120s",
    ]);

    const cluster: E2eCluster = {
      kubeconfig,
      kubectl: bin("kubectl"),
      helm: bin("helm"),
      images: {
        node: `hermes.local/hermes-node:${TAG}`,
        nodeNext: `hermes.local/hermes-node:${TAG}-next`,
        operator: `hermes.local/hermes-operator:${TAG}`,
      },
      rollingChatScript: join(import.meta.dirname, "support/rolling-chat.mjs"),
    };
    project.provide("e2e", cluster);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
