import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { join } from "node:path";
import type { Binaries } from "./binaries.js";
import { eventually, freePort, Proc } from "./processes.js";

/** What tests need to reach a running control plane. */
export interface ControlPlaneInfo {
  dir: string;
  server: string;
  /** kubeconfig of a system:masters admin (static token). */
  adminKubeconfig: string;
  adminToken: string;
  binaries: Binaries;
}

export function kubeconfigFor(server: string, user: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: control-plane\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
    "users:",
    `- name: ${user}\n  user:\n    token: ${token}`,
    "contexts:",
    `- name: ${user}\n  context:\n    cluster: control-plane\n    user: ${user}\n    namespace: default`,
    `current-context: ${user}`,
    "",
  ].join("\n");
}

function httpsStatus(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(
      url,
      { rejectUnauthorized: false, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

/**
 * etcd and kube-apiserver as local processes (the envtest approach), with RBAC authorization,
 * a static admin token, and service-account signing keys made at start so TokenRequest can issue
 * tokens for the chart's ServiceAccount. No kubelet, scheduler or controllers unless asked for.
 */
export class ControlPlane {
  private readonly procs: Proc[] = [];

  private constructor(readonly info: ControlPlaneInfo) {}

  static async start(binaries: Binaries, dir: string): Promise<ControlPlane> {
    mkdirSync(dir, { recursive: true });
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const { publicKey, privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    writeFileSync(join(dir, "sa.pub"), publicKey);
    writeFileSync(join(dir, "sa.key"), privateKey, { mode: 0o600 });
    const adminToken = randomBytes(24).toString("hex");
    writeFileSync(join(dir, "tokens.csv"), `${adminToken},admin,admin-uid,"system:masters"\n`, {
      mode: 0o600,
    });
    const server = `https://127.0.0.1:${apiPort}`;
    const adminKubeconfig = join(dir, "admin.kubeconfig");
    writeFileSync(adminKubeconfig, kubeconfigFor(server, "admin", adminToken), { mode: 0o600 });
    const cp = new ControlPlane({ dir, server, adminKubeconfig, adminToken, binaries });

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    cp.procs.push(
      new Proc(
        "etcd",
        binaries.etcd,
        [
          `--data-dir=${join(dir, "etcd")}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=default=${peerUrl}`,
          "--unsafe-no-fsync", // test data: speed over durability
        ],
        join(dir, "etcd.log"),
      ),
    );
    cp.procs.push(
      new Proc(
        "kube-apiserver",
        binaries.kubeApiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          `--cert-dir=${join(dir, "apiserver-certs")}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${apiPort}`,
          "--authorization-mode=RBAC",
          `--token-auth-file=${join(dir, "tokens.csv")}`,
          "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
          `--service-account-key-file=${join(dir, "sa.pub")}`,
          `--service-account-signing-key-file=${join(dir, "sa.key")}`,
          "--service-cluster-ip-range=10.0.0.0/24",
          "--allow-privileged=true",
          // As envtest: no controller creates service account tokens here.
          "--disable-admission-plugins=ServiceAccount",
        ],
        join(dir, "kube-apiserver.log"),
      ),
    );
    try {
      await eventually(async () => {
        for (const p of cp.procs) if (!p.running) throw new Error(`${p.name} exited; see ${p.logFile}`);
        const status = await httpsStatus(`${server}/readyz`, adminToken);
        if (status !== 200) throw new Error(`kube-apiserver /readyz answered ${status}`);
      }, 60_000);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** Stops every process it started, newest first, by PID. */
  async stop(): Promise<void> {
    for (const p of [...this.procs].reverse()) await p.stop();
  }
}

/**
 * kube-controller-manager with only the controllers a test needs (e.g. garbagecollector), as the
 * admin. The caller stops it.
 */
export function startControllerManager(info: ControlPlaneInfo, controllers: string[]): Proc {
  return new Proc(
    "kube-controller-manager",
    info.binaries.kubeControllerManager,
    [
      `--kubeconfig=${info.adminKubeconfig}`,
      `--controllers=${controllers.join(",")}`,
      "--leader-elect=false",
      "--secure-port=0",
    ],
    join(info.dir, "kube-controller-manager.log"),
  );
}
