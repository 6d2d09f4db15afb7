import { execFileSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The Kubernetes version hack/control-plane.sh builds; its cache folder is named after it. */
export const KUBE_VERSION = process.env.HERMES_KUBE_VERSION ?? "v1.34.4";

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  helm: string;
  kubectl: string;
}

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const onPath = (name: string) => {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
};

/**
 * Finds each binary as hack/control-plane.sh does: $KUBEBUILDER_ASSETS, then the build cache,
 * then (helm, kubectl) PATH. Throws, naming what is missing and how to get it; never skips.
 */
export function findBinaries(): Binaries {
  const cache = join(
    process.env.XDG_CACHE_HOME || join(homedir(), ".cache"),
    "hermes",
    "control-plane",
    KUBE_VERSION,
  );
  const dirs = [process.env.KUBEBUILDER_ASSETS, cache].filter((d): d is string => !!d);
  const find = (name: string, pathToo = false) =>
    dirs.map((d) => join(d, name)).find(executable) ?? (pathToo ? onPath(name) : undefined);
  const found = {
    etcd: find("etcd"),
    kubeApiserver: find("kube-apiserver"),
    kubeControllerManager: find("kube-controller-manager"),
    helm: find("helm", true),
    kubectl: find("kubectl", true),
  };
  const missing = Object.entries(found)
    .filter(([, path]) => !path)
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new Error(
      `control-plane tests need ${missing.join(", ")}: run hack/control-plane.sh once (it builds etcd, ` +
        `kube-apiserver, kube-controller-manager and helm into ${cache}; about 7 minutes on 2 cores), ` +
        "or point KUBEBUILDER_ASSETS at a folder that has them; kubectl comes from PATH.",
    );
  }
  return found as Binaries;
}
