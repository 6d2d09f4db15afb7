import { nodemesh } from "@hermes/proto";
import type { ConnectProof } from "../../src/protocol/index.js";
import type { AppLocation, MeshLink } from "../../src/router/locator.js";
import { type Harness, newRouter, type RouterOverrides, type TestApp } from "./router.js";

export type RouteBody = NonNullable<nodemesh.RouteFrame["body"]>;
export type RouteCase = RouteBody["$case"];
export type RouteValue<C extends RouteCase> = Extract<RouteBody, { $case: C }>["value"];
/** A sent frame's value with the node it was sent to. */
export type SentValue<C extends RouteCase> = RouteValue<C> & { to: string };

export interface SentFrame {
  to: string;
  frame: nodemesh.RouteFrame;
}

/** A frame as the other node decodes it: through protobuf bytes and back. */
export function overTheWire(frame: nodemesh.RouteFrame): nodemesh.RouteFrame {
  return nodemesh.RouteFrame.decode(nodemesh.RouteFrame.encode(frame).finish());
}

/**
 * A MeshLink that records every tieline frame the router sends. `up = false` makes sendRoute
 * refuse (as a missing, backed-up or reconnecting tieline does); `deliver`, when set, receives
 * each accepted frame after it was recorded.
 */
export class FakeMeshLink implements MeshLink {
  readonly sent: SentFrame[] = [];
  /** appId → where it is, for locate(). */
  readonly locations = new Map<string, AppLocation>();
  /** appId → the Connect it made here, while connected. */
  readonly connected = new Map<string, ConnectProof>();
  /** appId → the last Connect it made here, kept after it left. */
  readonly lastConnects = new Map<string, ConnectProof>();
  readonly disconnected: string[] = [];
  readonly latencies: number[] = [];
  up = true;
  deliver: ((to: string, frame: nodemesh.RouteFrame) => void) | undefined;
  private cursor = 0;

  locate(appId: string): AppLocation | undefined {
    return this.locations.get(appId);
  }

  endpoints(): AppLocation[] {
    const byNode = new Map([...this.locations.values()].map((l) => [l.nodeId, l]));
    return [...byNode.values()];
  }

  sendRoute(nodeId: string, frame: nodemesh.RouteFrame): boolean {
    if (!this.up) return false;
    const wire = overTheWire(frame);
    this.sent.push({ to: nodeId, frame: wire });
    this.deliver?.(nodeId, wire);
    return true;
  }

  observeRelayLatency(seconds: number): void {
    this.latencies.push(seconds);
  }

  appConnected(appId: string, proof: ConnectProof): void {
    this.connected.set(appId, proof);
    this.lastConnects.set(appId, proof);
  }

  appDisconnected(appId: string): void {
    this.connected.delete(appId);
    this.disconnected.push(appId);
  }

  /** What the router said its chats follow. */
  follows: (appId: string) => boolean = () => false;

  followApps(follows: (appId: string) => boolean): void {
    this.follows = follows;
  }

  /** Frames sent since the last take(). */
  take(): SentFrame[] {
    const fresh = this.sent.slice(this.cursor);
    this.cursor = this.sent.length;
    return fresh;
  }

  /** The body cases sent since the last take(), draining them. */
  takeCases(): RouteCase[] {
    return this.take().map((s) => s.frame.body!.$case);
  }

  /** The only frame sent since the last take(); fails unless it is exactly one of `kind`. Drains. */
  one<C extends RouteCase>(kind: C): SentValue<C> {
    const fresh = this.take();
    const cases = fresh.map((s) => s.frame.body?.$case);
    if (fresh.length !== 1 || fresh[0]!.frame.body?.$case !== kind) {
      throw new Error(`expected one ${kind} tieline frame, got [${cases.join(", ")}]`);
    }
    const sent = fresh[0]!;
    return { ...sent.frame.body!.value, to: sent.to } as unknown as SentValue<C>;
  }
}

export interface MeshNode extends Harness {
  link: FakeMeshLink;
  nodeId: string;
}

/**
 * Routers wired back to back through FakeMeshLinks, like nodes of a mesh: a frame node X sends
 * to node Y reaches Y's routeFrame(X, frame) on a later microtask (in order), and an app that
 * connects to one node is located there by the others. `paused` holds frames in `held` until
 * release(); `drop` loses matching frames on the way.
 */
export class FakeMesh {
  readonly nodes = new Map<string, MeshNode>();
  paused = false;
  held: { from: string; to: string; frame: nodemesh.RouteFrame }[] = [];
  drop: ((from: string, to: string, frame: nodemesh.RouteFrame) => boolean) | undefined;

  node(o: RouterOverrides = {}): MeshNode {
    const link = new FakeMeshLink();
    const h = newRouter({ ...o, mesh: link });
    const node: MeshNode = Object.assign(h, { link, nodeId: h.identity.id });
    const from = node.nodeId;
    link.deliver = (to, frame) => {
      if (this.drop?.(from, to, frame)) return;
      if (this.paused) this.held.push({ from, to, frame });
      else queueMicrotask(() => this.nodes.get(to)?.router.routeFrame(from, frame));
    };
    // The members: every other node, at the address its apps are told of.
    link.endpoints = () =>
      [...this.nodes.values()]
        .filter((other) => other !== node)
        .map((other) => ({ nodeId: other.nodeId, appEndpoint: `${other.nodeId}:7400` }));
    // The directory: where an app connects, the other nodes locate it.
    const connected = link.appConnected.bind(link);
    const disconnected = link.appDisconnected.bind(link);
    link.appConnected = (appId, proof) => {
      connected(appId, proof);
      this.place(appId, node, proof);
    };
    link.appDisconnected = (appId) => {
      disconnected(appId);
      for (const other of this.nodes.values())
        if (other.link.locations.get(appId)?.nodeId === node.nodeId) other.link.locations.delete(appId);
    };
    this.nodes.set(node.nodeId, node);
    return node;
  }

  /**
   * Makes every other node locate `appId` at `node`, and tells them (as directory news does,
   * with the app's Connect there as its proof: by default the last it made there).
   */
  place(appId: string, node: MeshNode, proof = node.link.lastConnects.get(appId)!): void {
    for (const other of this.nodes.values()) {
      if (other === node) continue;
      other.link.locations.set(appId, { nodeId: node.nodeId, appEndpoint: `${node.nodeId}:7400` });
      // Directory news arrives later, and is not news about an app connected there since.
      queueMicrotask(() => {
        const there = this.nodes.get(other.nodeId);
        if (there && !there.link.connected.has(appId)) there.router.appLocated(appId, node.nodeId, proof);
      });
    }
  }

  /**
   * The node's process restarts: a new router with the same identity over what it had flushed,
   * on the same clock. Its apps' sessions are gone; its tielines come back up (tielineUp on both
   * sides) unless `tielinesUp` is false.
   */
  restart(node: MeshNode, tielinesUp = true): MeshNode {
    this.nodes.delete(node.nodeId);
    const fresh = this.node({ identity: node.identity, backend: node.backend.reopen(), clock: node.clock });
    fresh.router.restore();
    // It joins again and takes every node's app list (directory snapshots).
    for (const other of this.nodes.values()) {
      if (other === fresh) continue;
      for (const [appId, proof] of other.link.connected) {
        fresh.link.locations.set(appId, { nodeId: other.nodeId, appEndpoint: `${other.nodeId}:7400` });
        queueMicrotask(() => fresh.router.appLocated(appId, other.nodeId, proof));
      }
    }
    if (tielinesUp) this.tielinesUp(fresh);
    return fresh;
  }

  /** Every tieline of `node` is (back) up, as both ends see it. */
  tielinesUp(node: MeshNode): void {
    for (const other of this.nodes.values()) {
      if (other === node) continue;
      node.router.tielineUp(other.nodeId);
      other.router.tielineUp(node.nodeId);
    }
  }

  /** `node` is declared dead: the others drop its apps and their chats through it wait. */
  lose(node: MeshNode): void {
    this.nodes.delete(node.nodeId);
    for (const other of this.nodes.values()) {
      for (const [appId, where] of other.link.locations)
        if (where.nodeId === node.nodeId) other.link.locations.delete(appId);
      other.router.nodeLost(node.nodeId);
    }
  }

  /** Delivers the held frames, in order, and stops holding. */
  release(): void {
    this.paused = false;
    for (const { from, to, frame } of this.held.splice(0))
      queueMicrotask(() => this.nodes.get(to)?.router.routeFrame(from, frame));
  }
}

/** Lets every frame in flight (and the frames they cause) arrive. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** a starts a chat with b across the mesh and b accepts; every sink and link is drained. */
export async function crossChat(a: TestApp, b: TestApp, ...nodes: MeshNode[]) {
  const start = a.startChat(b);
  a.sink.one("chatPending");
  await settle();
  const offer = b.sink.one("chatOffer");
  const accept = b.accept(offer);
  b.sink.one("chatReady");
  await settle();
  const { correlationId: _, ...ready } = a.sink.one("chatReady");
  for (const n of nodes) n.link.take();
  return { chatId: start.chatId, start, offer, accept, ready };
}

export function deliveries(app: TestApp): { seq: number; text: string }[] {
  return app.sink
    .take()
    .flatMap((f) =>
      f.body?.$case === "delivery"
        ? [{ seq: f.body.value.seq, text: Buffer.from(f.body.value.ciphertext).toString() }]
        : [],
    );
}
