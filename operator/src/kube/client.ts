import http from "node:http";
import https from "node:https";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";

/**
 * A small JSON client for the Kubernetes API on top of @kubernetes/client-node's KubeConfig
 * (which loads kubeconfig files or in-cluster credentials and applies tokens and TLS to each
 * request). Objects stay as the API sends them: list and watch results have the same shape, with
 * timestamps as strings, which keeps informer caches and comparisons simple.
 */

/** A failed API call, with the HTTP status and the Status reason (NotFound, Conflict, Expired...). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const isNotFound = (err: unknown) => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof ApiError && err.status === 409;
/** 410 Gone: a watch or list resourceVersion that etcd has compacted away. */
export const isGone = (err: unknown) => err instanceof ApiError && err.status === 410;
export const isForbidden = (err: unknown) => err instanceof ApiError && err.status === 403;

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string };
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export class KubeClient {
  constructor(private readonly kc: KubeConfig) {}

  private async open(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/$/, "") + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const options: https.RequestOptions = { method, headers: { Accept: "application/json" } };
    // Re-applied per request: bound service account tokens are rotated on disk.
    await this.kc.applyToHTTPSOptions(options);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) {
      options.headers = { ...options.headers, "Content-Type": opts.contentType ?? "application/json" };
    }
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...options, signal: opts.signal }, resolve);
      req.on("error", reject);
      req.end(body);
    });
  }

  /** One request; resolves with the decoded JSON body or rejects with an ApiError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : {}) as T;
    throw apiError(status, text);
  }

  /** GET that answers undefined for 404. */
  async get<T>(path: string): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list<T>(path: string, query: Query = {}): Promise<ListResult<T>> {
    return this.request<ListResult<T>>("GET", path, { query });
  }

  /**
   * Server-side apply: the body is the complete intent of this field manager. With `force`, fields
   * another manager owns are taken over (right for objects only the operator should shape).
   */
  apply<T extends KubernetesObject>(path: string, body: T, fieldManager: string, force: boolean): Promise<T> {
    return this.request<T>("PATCH", path, {
      body,
      contentType: "application/apply-patch+yaml", // JSON is YAML
      query: { fieldManager, force },
    });
  }

  /**
   * JSON merge patch (RFC 7386). Unlike apply it never creates the object: 404 when it is gone,
   * and 409 when the body's metadata.resourceVersion is no longer the object's.
   */
  mergePatch<T>(path: string, body: unknown, fieldManager: string): Promise<T> {
    return this.request<T>("PATCH", path, {
      body,
      contentType: "application/merge-patch+json",
      query: { fieldManager },
    });
  }

  create<T>(path: string, body: unknown, fieldManager: string): Promise<T> {
    return this.request<T>("POST", path, { body, query: { fieldManager } });
  }

  replace<T>(path: string, body: unknown, fieldManager: string): Promise<T> {
    return this.request<T>("PUT", path, { body, query: { fieldManager } });
  }

  /** DELETE; with a uid precondition it only deletes that incarnation of the object. */
  async delete(
    path: string,
    opts: { uid?: string; propagationPolicy?: "Background" | "Foreground" } = {},
  ): Promise<void> {
    const body = {
      apiVersion: "v1",
      kind: "DeleteOptions",
      ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
      propagationPolicy: opts.propagationPolicy ?? "Background",
    };
    try {
      await this.request("DELETE", path, { body });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Streams a watch until the server ends it (timeoutSeconds) or the signal aborts. Rejects with an
   * ApiError for a failed start or an ERROR event (410 Gone when the resourceVersion expired).
   */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.open("GET", path, { query: { ...query, watch: true }, signal });
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw apiError(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"));
    }
    // A silent peer (dead connection without a FIN) must not stall the informer forever.
    const idleMs = (Number(query.timeoutSeconds ?? 300) + 60) * 1000;
    res.socket.setKeepAlive(true, 30_000);
    res.setTimeout(idleMs, () => res.destroy(new Error(`watch ${path}: no data for ${idleMs / 1000}s`)));
    res.setEncoding("utf8");
    await new Promise<void>((resolve, reject) => {
      let buffer = "";
      let ended = false;
      const fail = (err: unknown) => {
        res.destroy();
        reject(err);
      };
      res.on("data", (chunk: string) => {
        buffer += chunk;
        for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          try {
            const event = JSON.parse(line) as WatchEvent<T>;
            if (event.type === "ERROR") {
              const st = event.object as unknown as { code?: number; reason?: string; message?: string };
              return fail(new ApiError(st.code ?? 500, st.reason ?? "Unknown", st.message ?? "watch error"));
            }
            onEvent(event);
          } catch (err) {
            return fail(err);
          }
        }
      });
      res.on("end", () => {
        ended = true;
        resolve();
      });
      res.on("error", reject);
      res.on("close", () => {
        if (!ended) reject(new Error(`watch ${path}: connection closed`));
      });
    });
  }
}

function apiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, body.reason ?? String(status), body.message ?? text);
  } catch {
    return new ApiError(status, String(status), text.slice(0, 500) || `HTTP ${status}`);
  }
}
