import type { KubernetesObject } from "@kubernetes/client-node";
import { isGone, type KubeClient, type WatchEvent } from "../kube/client.js";
import { type Resource, resourcePath } from "../kube/resources.js";
import type { Logger } from "../telemetry/log.js";

export type InformerEventType = "add" | "update" | "delete";
export type InformerHandler<T> = (type: InformerEventType, obj: T) => void;

export interface InformerOptions<T> {
  client: Pick<KubeClient, "list" | "watch">;
  resource: Resource;
  /** Watch one namespace; all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
  log: Logger;
  onEvent: InformerHandler<T>;
  /** Told why a watch restarted: "expired" (410, relist), "closed" (normal end, resumed), "error". */
  onRestart?: (reason: "expired" | "closed" | "error") => void;
  /** Server-side watch timeout; the watch is then resumed from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
}

const key = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * A cache of one resource kept current by list + watch:
 * - lists (paged) once, then watches from the list's resourceVersion with bookmarks;
 * - when a watch ends (server timeout, dropped connection) it resumes from the last
 *   resourceVersion seen, so no event is lost and nothing is listed again;
 * - when that resourceVersion has expired (410 Gone) it lists again and reports the difference
 *   (deletions included) as events;
 * - other errors (e.g. API server down) are retried with backoff up to 30s.
 */
export class Informer<T extends KubernetesObject> {
  private readonly store = new Map<string, T>();
  private resourceVersion = "";
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly opts: InformerOptions<T>) {}

  get name(): string {
    return this.opts.namespace
      ? `${this.opts.resource.plural} in ${this.opts.namespace}`
      : this.opts.resource.plural;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(namespace: string, name: string): T | undefined {
    return this.store.get(`${namespace}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  private get path(): string {
    return resourcePath(this.opts.resource, this.opts.namespace);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let backoffMs = 1000;
    while (!signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist();
        if (signal.aborted) break;
        await this.watch(signal);
        this.opts.onRestart?.("closed");
        backoffMs = 1000;
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.opts.log.info({ informer: this.name }, "watch expired (410 Gone); listing again");
          this.resourceVersion = "";
          this.opts.onRestart?.("expired");
          continue;
        }
        this.opts.onRestart?.("error");
        this.opts.log.warn(
          { informer: this.name, err: String(err), retryInMs: backoffMs },
          "list/watch failed; retrying",
        );
        await sleep(backoffMs, signal);
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
  }

  /** Lists everything (in pages) and reconciles the cache with it, emitting the differences. */
  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.opts.client.list<T>(this.path, {
        labelSelector: this.opts.labelSelector,
        limit: this.opts.pageSize ?? 500,
        continue: cont,
      });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);

    const fresh = new Map(items.map((o) => [key(o), o]));
    for (const [k, old] of this.store) {
      if (!fresh.has(k)) {
        this.store.delete(k);
        this.opts.onEvent("delete", old);
      }
    }
    for (const [k, obj] of fresh) {
      const old = this.store.get(k);
      this.store.set(k, obj);
      if (!old) this.opts.onEvent("add", obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.opts.onEvent("update", obj);
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const timeout = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    await this.opts.client.watch<T>(
      this.path,
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: this.opts.labelSelector,
        timeoutSeconds: timeout,
      },
      (event) => this.apply(event),
      signal,
    );
  }

  private apply(event: WatchEvent<T>): void {
    const obj = event.object;
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    const k = key(obj);
    switch (event.type) {
      case "ADDED":
      case "MODIFIED": {
        const existed = this.store.has(k);
        this.store.set(k, obj);
        this.opts.onEvent(existed ? "update" : "add", obj);
        break;
      }
      case "DELETED":
        this.store.delete(k);
        this.opts.onEvent("delete", obj);
        break;
      default: // BOOKMARK: only the resourceVersion moves
        break;
    }
  }
}
