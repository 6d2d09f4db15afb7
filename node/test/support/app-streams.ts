import type { approuter } from "@hermes/proto";
import type { Session } from "../../src/router/session.js";
import type { NodeStream, OpenStream, StreamHandlers } from "../../src/sdk/connection.js";
import type { MeshNode } from "./mesh-link.js";

/** Where an app reaches a node of a FakeMesh: the address its ConnectAck advertises. */
export const endpointOf = (node: MeshNode): string => `${node.nodeId}:7400`;

interface OpenStreamState {
  session: Session;
  handlers: StreamHandlers;
  closed: boolean;
}

/**
 * App streams in memory, for HermesClient's `open` option: each stream is a session on a
 * FakeMesh node's router, frames crossing on later microtasks as over a socket. A node can be
 * killed (its streams break, new ones are refused at once) or silenced (streams hang, as to a
 * stopped process).
 */
export class AppStreams {
  private readonly nodes = new Map<string, MeshNode>();
  private readonly streams = new Map<string, Set<OpenStreamState>>();
  private readonly dead = new Set<string>();
  private readonly silent = new Set<string>();
  /** Endpoints dialled, in order. */
  readonly dials: string[] = [];
  /** Every frame apps wrote, in order. */
  readonly written: approuter.AppFrame[] = [];
  /** Nodes that answer as a node from before batches (ConnectAck.takes_batches unset). */
  private readonly olderNodes = new Set<string>();

  add(...nodes: MeshNode[]): this {
    for (const node of nodes) this.nodes.set(endpointOf(node), node);
    return this;
  }

  readonly open: OpenStream = (endpoint, handlers) => {
    this.dials.push(endpoint);
    const node = this.nodes.get(endpoint);
    if (!node || this.dead.has(endpoint)) {
      queueMicrotask(() => handlers.lost(`connection refused by ${endpoint}`));
      return { write: () => undefined, close: () => undefined };
    }
    if (this.silent.has(endpoint)) return { write: () => undefined, close: () => undefined };
    const state = {} as OpenStreamState;
    state.handlers = handlers;
    state.closed = false;
    state.session = node.router.open({
      send: (frame: approuter.NodeFrame) => {
        const body = frame.body;
        if (body?.$case === "connectAck" && this.olderNodes.has(endpoint))
          frame = { ...frame, body: { ...body, value: { ...body.value, takesBatches: false } } };
        queueMicrotask(() => {
          if (!state.closed) handlers.frame(frame);
        });
      },
      end: () => {
        queueMicrotask(() => {
          if (state.closed) return;
          state.closed = true;
          handlers.lost("stream ended by the node");
        });
      },
    });
    const set = this.streams.get(endpoint) ?? new Set();
    set.add(state);
    this.streams.set(endpoint, set);
    const stream: NodeStream = {
      write: (frame) => {
        this.written.push(frame);
        queueMicrotask(() => {
          if (!state.closed) node.router.receive(state.session, frame);
        });
      },
      close: () => {
        if (state.closed) return;
        state.closed = true;
        node.router.disconnected(state.session);
      },
    };
    return stream;
  };

  /** The node answers as a node from before batches did: it says nothing of takes_batches. */
  older(node: MeshNode): void {
    this.olderNodes.add(endpointOf(node));
  }

  /** The node's process dies: its streams break and new ones are refused. */
  kill(node: MeshNode): void {
    const endpoint = endpointOf(node);
    this.dead.add(endpoint);
    for (const state of this.streams.get(endpoint) ?? []) {
      if (state.closed) continue;
      state.closed = true;
      queueMicrotask(() => state.handlers.lost("connection reset"));
    }
    this.streams.delete(endpoint);
  }

  /** The node answers nothing any more (a stopped process): streams open but stay silent. */
  silence(node: MeshNode): void {
    const endpoint = endpointOf(node);
    this.silent.add(endpoint);
    for (const state of this.streams.get(endpoint) ?? []) state.closed = true;
  }

  /** HTTP/2 keep-alive gives up on a silenced node: the streams it still had break. */
  keepaliveFails(node: MeshNode): void {
    const endpoint = endpointOf(node);
    for (const state of this.streams.get(endpoint) ?? []) state.handlers.lost("Connection dropped");
    this.streams.delete(endpoint);
  }

  /** The node is back (a restart on the same address): new streams reach `node`. */
  revive(node: MeshNode): void {
    this.dead.delete(endpointOf(node));
    this.silent.delete(endpointOf(node));
    this.add(node);
  }
}
