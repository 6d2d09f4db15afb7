import type { KubernetesObject } from "@kubernetes/client-node";
import type { HermesNode, HermesNodeStatus } from "../api/types.js";
import { FIELD_MANAGER } from "../desired/meta.js";
import { ApiError, type KubeClient } from "./client.js";
import { RESOURCES, resourceOf, resourcePath } from "./resources.js";

/** A reconcile step that failed, with a condition reason and a message for the user. */
export class ReconcileError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = "ReconcileError";
  }
}

const describe = (obj: KubernetesObject) => `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`;

/**
 * Server-side apply with one field manager ("hermes-operator"). Objects are sent whole: what the
 * operator leaves out of an object it applied before is removed, so the desired builders alone
 * decide each owned object's shape. `force` takes fields over from other managers (someone's
 * `kubectl edit` of an owned object is undone), which is right for objects the operator owns.
 */
export class Applier {
  constructor(private readonly client: KubeClient) {}

  async apply<T extends KubernetesObject>(obj: T, opts: { force?: boolean } = {}): Promise<T> {
    const res = resourceOf(obj.apiVersion, obj.kind);
    const path = resourcePath(res, obj.metadata?.namespace, obj.metadata?.name);
    try {
      return await this.client.apply(path, obj, FIELD_MANAGER, opts.force ?? true);
    } catch (err) {
      // A resourceVersion precondition failed: someone wrote first; retry from a fresh read.
      if (err instanceof ApiError && err.status === 409) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new ReconcileError("ApplyFailed", `applying ${describe(obj)}: ${message}`, err);
    }
  }

  /** Applies the status subresource; only the status fields are the operator's. */
  async applyStatus(hn: HermesNode, status: HermesNodeStatus): Promise<HermesNode> {
    const path = resourcePath(RESOURCES.hermesNode, hn.metadata.namespace, hn.metadata.name, "status");
    const body = {
      apiVersion: hn.apiVersion,
      kind: hn.kind,
      metadata: { name: hn.metadata.name, namespace: hn.metadata.namespace },
      status,
    };
    return this.client.apply(path, body, FIELD_MANAGER, true) as Promise<HermesNode>;
  }

  /** Deletes exactly this object (uid precondition), not a namesake created since. */
  async delete(obj: KubernetesObject): Promise<void> {
    const res = resourceOf(obj.apiVersion, obj.kind);
    await this.client.delete(resourcePath(res, obj.metadata?.namespace, obj.metadata?.name), {
      uid: obj.metadata?.uid,
    });
  }
}
