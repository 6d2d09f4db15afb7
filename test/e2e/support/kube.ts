// kubectl, helm and waiting, against the cluster the global setup prepared (local or kind).
import { inject } from "vitest";
import { type KubeJson, type RunResult, run } from "../../controlplane/support/cluster.js";

export type { KubeJson };

/** What the global setup hands the suite. */
export interface E2eCluster {
  kubeconfig: string;
  kubectl: string;
  helm: string;
  /** Image references as the cluster knows them. */
  images: { node: string; nodeNext: string; operator: string };
  /** Where the chat script of the rolling check is (mounted into a pod through a ConfigMap). */
  rollingChatScript: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    e2e: E2eCluster;
  }
}

export const NS = "hermes-e2e";
export const RELEASE = { name: "hermes", namespace: "hermes-system" };
export const MESH = "mesh";

export class Kube {
  constructor(readonly cluster: E2eCluster = inject("e2e")) {}

  kubectl(args: string[], opts: { input?: string; allowFail?: boolean } = {}): Promise<RunResult> {
    return run(this.cluster.kubectl, [`--kubeconfig=${this.cluster.kubeconfig}`, ...args], opts);
  }

  helm(args: string[], opts: { allowFail?: boolean } = {}): Promise<RunResult> {
    return run(this.cluster.helm, [`--kubeconfig=${this.cluster.kubeconfig}`, ...args], opts);
  }

  async json(args: string[]): Promise<KubeJson> {
    return JSON.parse((await this.kubectl([...args, "-o", "json"])).stdout);
  }

  /** A GET through the API server (its service and pod proxies reach inside the cluster). */
  async raw(path: string): Promise<KubeJson> {
    return JSON.parse((await this.kubectl(["get", "--raw", path])).stdout);
  }

  hermesNode(name = MESH): Promise<KubeJson> {
    return this.json(["-n", NS, "get", "hermesnode", name]);
  }

  /** The node pods of the mesh, by name. */
  async meshPods(name = MESH): Promise<KubeJson[]> {
    const list = await this.json(["-n", NS, "get", "pods", "-l", `app.kubernetes.io/instance=${name}`]);
    return list.items.filter((p: KubeJson) => p.metadata.name.startsWith(`${name}-`));
  }

  /** GET /mesh/members of one node through the pod proxy. */
  members(pod: string): Promise<{ nodeId: string; self?: boolean; state: string }[]> {
    return this.raw(`/api/v1/namespaces/${NS}/pods/${pod}:7402/proxy/mesh/members`);
  }

  /** A Prometheus instant query through the API server's service proxy. */
  async promQuery(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const body = await this.raw(
      `/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy/api/v1/query?query=${encodeURIComponent(query)}`,
    );
    return body.data.result;
  }

  /** Prints what a failed check needs: the HermesNode, pods, events and logs. */
  async diagnose(): Promise<void> {
    const out = async (title: string, args: string[]) => {
      const r = await this.kubectl(args, { allowFail: true });
      console.error(`---- ${title}\n${r.stdout}${r.stderr}`);
    };
    await out("HermesNodes", ["get", "hermesnodes", "-A", "-o", "yaml"]);
    await out("pods", ["get", "pods", "-A", "-o", "wide"]);
    await out("events", ["get", "events", "-A", "--sort-by=.lastTimestamp"]);
    await out("operator log", ["-n", RELEASE.namespace, "logs", "deployment/hermes-operator", "--tail=200"]);
    const pods = await this.meshPods().catch(() => []);
    for (const pod of pods)
      await out(`log ${pod.metadata.name}`, ["-n", NS, "logs", pod.metadata.name, "--tail=80"]);
  }
}

/**
 * Polls check until it stops throwing; fails after timeoutMs with the last reason. The deadlines
 * bound waits for a cluster to converge; none of them measures speed.
 */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000}s: ${what}: ${(last as Error)?.message ?? last}`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
