import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import type { ControlPlaneInfo } from "./control-plane.js";

declare module "vitest" {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
    /** The chart's release, installed by the global setup. */
    release: { name: string; namespace: string; serviceAccount: string };
  }
}

/** An object as kubectl prints it; tests read it field by field in assertions. */
// biome-ignore lint/suspicious/noExplicitAny: untyped API JSON, checked by the assertions themselves
export type KubeJson = any;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects on a non-zero exit unless allowFail. */
export function run(
  command: string,
  args: string[],
  opts: { input?: string; allowFail?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? -1, stdout, stderr };
      if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr || stdout}`));
      } else resolve(result);
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** kubectl and helm as the control plane's admin. */
export class Cluster {
  constructor(readonly info: ControlPlaneInfo = inject("controlPlane")) {}

  kubectl(
    args: string[],
    opts: { input?: string; allowFail?: boolean; kubeconfig?: string } = {},
  ): Promise<RunResult> {
    return run(
      this.info.binaries.kubectl,
      [`--kubeconfig=${opts.kubeconfig ?? this.info.adminKubeconfig}`, ...args],
      opts,
    );
  }

  helm(args: string[], opts: { input?: string; allowFail?: boolean } = {}): Promise<RunResult> {
    return run(this.info.binaries.helm, [`--kubeconfig=${this.info.adminKubeconfig}`, ...args], opts);
  }

  /** The object as JSON, or undefined when it does not exist. */
  async get<T = KubeJson>(kind: string, name: string, namespace?: string): Promise<T | undefined> {
    const ns = namespace ? ["-n", namespace] : [];
    const r = await this.kubectl(["get", kind, name, ...ns, "-o", "json"], { allowFail: true });
    if (r.code !== 0) {
      if (/NotFound|not found/.test(r.stderr)) return undefined;
      throw new Error(r.stderr);
    }
    return JSON.parse(r.stdout) as T;
  }

  async mustGet<T = KubeJson>(kind: string, name: string, namespace?: string): Promise<T> {
    const obj = await this.get<T>(kind, name, namespace);
    if (!obj) throw new Error(`${kind} ${namespace ?? ""}/${name} not found`);
    return obj;
  }

  apply(yaml: string, namespace?: string, opts: { allowFail?: boolean } = {}): Promise<RunResult> {
    const ns = namespace ? ["-n", namespace] : [];
    return this.kubectl(["apply", "--server-side", "--field-manager=test", ...ns, "-f", "-"], {
      input: yaml,
      ...opts,
    });
  }

  /** Merges `status` into an object's status subresource, as its controller (or the kubelet) would. */
  async patchStatus(kind: string, name: string, namespace: string, status: object): Promise<void> {
    await this.kubectl([
      "patch",
      kind,
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status }),
    ]);
  }

  async createNamespace(name: string): Promise<void> {
    await this.kubectl(["create", "namespace", name]);
  }

  /** Writes a file in the control plane's folder and returns its path. */
  file(name: string, text: string): string {
    const path = join(this.info.dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }
}

/** Secret data decoded to text. */
export function secretData(secret: { data?: Record<string, string> } | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}

/** A file from test/controlplane/fixtures. */
export function fixture(name: string): string {
  return readFileSync(join(import.meta.dirname, "..", "fixtures", name), "utf8");
}
