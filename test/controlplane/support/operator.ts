import { join, resolve } from "node:path";
import { inject } from "vitest";
import { type Cluster, run } from "./cluster.js";
import { kubeconfigFor } from "./control-plane.js";
import { eventually, freePort, Proc } from "./processes.js";

const REPO = resolve(import.meta.dirname, "../../..");
const MAIN = join(REPO, "operator/dist/main.js");
let instances = 0;

/**
 * The operator, run as a local process (there is no kubelet) but exactly as the chart deploys it:
 * with the arguments of the chart's Deployment and a token of the chart's ServiceAccount (from
 * the TokenRequest API), so it has the chart's RBAC permissions and nothing more.
 */
export class OperatorProcess {
  private constructor(
    readonly proc: Proc,
    readonly metricsUrl: string,
    readonly healthUrl: string,
    readonly identity: string,
  ) {}

  static async start(cluster: Cluster, extraArgs: string[] = []): Promise<OperatorProcess> {
    const release = inject("release");
    const token = (
      await cluster.kubectl([
        "create",
        "token",
        release.serviceAccount,
        "-n",
        release.namespace,
        "--duration=2h",
      ])
    ).stdout.trim();
    const kubeconfig = cluster.file(
      "operator.kubeconfig",
      kubeconfigFor(
        cluster.info.server,
        `system:serviceaccount:${release.namespace}:${release.serviceAccount}`,
        token,
      ),
    );
    const deployment = await cluster.mustGet("deployment", release.serviceAccount, release.namespace);
    const chartArgs = (deployment.spec.template.spec.containers[0].args as string[]).filter(
      (a) => !a.startsWith("--metrics-bind-address") && !a.startsWith("--health-probe-bind-address"),
    );
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    const identity = `operator-test-${++instances}`;
    const proc = new Proc(
      "hermes-operator",
      process.execPath,
      [
        MAIN,
        ...chartArgs,
        `--kubeconfig=${kubeconfig}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${healthPort}`,
        // Short watches, so resumed watches happen many times during a test run.
        "--watch-timeout-seconds=5",
        ...extraArgs,
      ],
      join(cluster.info.dir, `${identity}.log`),
      // As the Deployment's downward API would set them.
      { ...process.env, POD_NAME: identity, POD_NAMESPACE: release.namespace },
    );
    const op = new OperatorProcess(
      proc,
      `http://127.0.0.1:${metricsPort}/metrics`,
      `http://127.0.0.1:${healthPort}`,
      identity,
    );
    return op;
  }

  /** Waits until this replica leads and its caches have synced. */
  async waitUntilLeading(timeoutMs = 40_000): Promise<void> {
    await eventually(async () => {
      if (!this.proc.running) throw new Error(`operator exited:\n${this.logs()}`);
      const metrics = await this.metrics();
      if (!/^hermes_operator_leader 1$/m.test(metrics)) throw new Error("not leading yet");
      const ready = await fetch(`${this.healthUrl}/readyz`);
      if (ready.status !== 200) throw new Error("not ready yet");
    }, timeoutMs);
  }

  async metrics(): Promise<string> {
    return (await fetch(this.metricsUrl)).text();
  }

  logs(): string {
    return this.proc.logs();
  }

  /** Log lines about API calls that RBAC denied (`... is forbidden: User "..." cannot get resource ...`). */
  forbidden(): string[] {
    return this.logs()
      .split("\n")
      .filter((line) => /forbidden: User|cannot \w+ resource/i.test(line));
  }

  stop(): Promise<number | null> {
    return this.proc.stop();
  }

  kill(): Promise<void> {
    return this.proc.kill();
  }
}

export { run };
