import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { Informer, type InformerEventType } from "../../src/controller/informer.js";
import { ApiError, type ListResult, type WatchEvent } from "../../src/kube/client.js";
import { RESOURCES } from "../../src/kube/resources.js";
import { createLogger } from "../../src/telemetry/log.js";

const obj = (name: string, rv: string): KubernetesObject => ({
  metadata: { name, namespace: "ns", resourceVersion: rv },
});

type Step = { list: ListResult<KubernetesObject> } | { watch: (WatchEvent<KubernetesObject> | Error)[] };

/** Plays list and watch answers in order, recording the calls; then blocks until aborted. */
class FakeClient {
  readonly calls: string[] = [];
  constructor(private readonly steps: Step[]) {}

  async list<T>(path: string, query: Record<string, unknown> = {}): Promise<ListResult<T>> {
    this.calls.push(`list ${path} ${query.labelSelector ?? ""}`);
    const step = this.steps.shift();
    if (!step || !("list" in step)) throw new Error(`unexpected list; next step ${JSON.stringify(step)}`);
    return step.list as ListResult<T>;
  }

  async watch<T>(
    path: string,
    query: Record<string, unknown>,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.calls.push(`watch ${path} rv=${query.resourceVersion} bookmarks=${query.allowWatchBookmarks}`);
    const step = this.steps.shift();
    if (!step) return new Promise((resolve) => signal.addEventListener("abort", () => resolve()));
    if (!("watch" in step)) throw new Error("unexpected watch");
    for (const e of step.watch) {
      if (e instanceof Error) throw e;
      onEvent(e as WatchEvent<T>);
    }
  }
}

function setup(steps: Step[]) {
  const client = new FakeClient(steps);
  const events: string[] = [];
  const restarts: string[] = [];
  const informer = new Informer<KubernetesObject>({
    client,
    resource: RESOURCES.configMap,
    labelSelector: "app=x",
    log: createLogger("silent"),
    onEvent: (type: InformerEventType, o) =>
      events.push(`${type} ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    onRestart: (r) => restarts.push(r),
    watchTimeoutSeconds: 5,
  });
  return { client, events, restarts, informer };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("Informer", () => {
  it("lists, then watches from the list's resourceVersion with bookmarks, keeping a cache", async () => {
    const { client, events, informer } = setup([
      { list: { items: [obj("a", "1")], metadata: { resourceVersion: "10" } } },
      {
        watch: [
          { type: "ADDED", object: obj("b", "11") },
          { type: "MODIFIED", object: obj("a", "12") },
          { type: "DELETED", object: obj("b", "13") },
        ],
      },
    ]);
    informer.start();
    await informer.waitForSync();
    await settle();
    expect(events).toEqual(["add a@1", "add b@11", "update a@12", "delete b@13"]);
    expect(informer.get("ns", "a")?.metadata?.resourceVersion).toBe("12");
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(["a"]);
    expect(client.calls.slice(0, 3)).toEqual([
      "list /api/v1/configmaps app=x",
      "watch /api/v1/configmaps rv=10 bookmarks=true",
      "watch /api/v1/configmaps rv=13 bookmarks=true",
    ]);
    await informer.stop();
  });

  it("resumes a watch that ended from the last resourceVersion seen, bookmarks included, without listing", async () => {
    const { client, restarts, informer } = setup([
      { list: { items: [], metadata: { resourceVersion: "5" } } },
      { watch: [{ type: "BOOKMARK", object: { metadata: { resourceVersion: "42" } } }] },
      { watch: [] },
    ]);
    informer.start();
    await settle();
    expect(client.calls).toEqual([
      "list /api/v1/configmaps app=x",
      "watch /api/v1/configmaps rv=5 bookmarks=true",
      "watch /api/v1/configmaps rv=42 bookmarks=true",
      "watch /api/v1/configmaps rv=42 bookmarks=true",
    ]);
    expect(restarts).toEqual(["closed", "closed"]);
    await informer.stop();
  });

  it("lists again when the resourceVersion has expired (410), reporting what vanished meanwhile", async () => {
    const { client, events, restarts, informer } = setup([
      { list: { items: [obj("a", "1"), obj("b", "2")], metadata: { resourceVersion: "2" } } },
      { watch: [new ApiError(410, "Expired", "too old resource version")] },
      { list: { items: [obj("a", "1"), obj("c", "9")], metadata: { resourceVersion: "9" } } },
    ]);
    informer.start();
    await settle();
    expect(events).toEqual(["add a@1", "add b@2", "delete b@2", "add c@9"]);
    expect(restarts).toEqual(["expired"]);
    expect(client.calls.at(-1)).toBe("watch /api/v1/configmaps rv=9 bookmarks=true");
    await informer.stop();
  });

  it("retries other failures after a backoff, resuming where it was", async () => {
    const { client, restarts, informer } = setup([
      { list: { items: [], metadata: { resourceVersion: "3" } } },
      { watch: [new Error("connection reset")] },
    ]);
    informer.start();
    await settle();
    expect(restarts).toEqual(["error"]);
    await new Promise((r) => setTimeout(r, 1100));
    expect(client.calls.at(-1)).toBe("watch /api/v1/configmaps rv=3 bookmarks=true");
    await informer.stop();
  });

  it("reads pages of a large list", async () => {
    const { events, informer } = setup([
      { list: { items: [obj("a", "1")], metadata: { resourceVersion: "", continue: "next" } } },
      { list: { items: [obj("b", "2")], metadata: { resourceVersion: "7" } } },
    ]);
    informer.start();
    await informer.waitForSync();
    expect(events).toEqual(["add a@1", "add b@2"]);
    await informer.stop();
  });
});
