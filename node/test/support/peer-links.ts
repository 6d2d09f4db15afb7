import { EventEmitter } from "node:events";
import type { nodemesh } from "@hermes/proto";
import type { PeerLinkEvents, PeerLinksPort } from "../../src/mesh/peer-links.js";

/**
 * An in-memory PeerLinksPort: it records what the mesh sends and dials, and the test says which
 * tielines are up (`routeUp`/`routeDown` emit the events PeerLinks would).
 */
export class FakePeerLinks extends EventEmitter<PeerLinkEvents> implements PeerLinksPort {
  readonly gossip: { address: string; envelope: nodemesh.GossipEnvelope }[] = [];
  readonly routes: { nodeId: string; frame: nodemesh.RouteFrame }[] = [];
  readonly dials: string[] = [];
  readonly forgotten: string[] = [];
  private readonly up = new Set<string>();
  /** Answers Join calls when set (e.g. with another mesh's answerJoin). */
  answerJoin: ((address: string, request: nodemesh.JoinRequest) => nodemesh.JoinResponse) | undefined;

  join(address: string, request: nodemesh.JoinRequest): Promise<nodemesh.JoinResponse> {
    if (!this.answerJoin) return Promise.reject(new Error("no network in this test"));
    return Promise.resolve(this.answerJoin(address, request));
  }

  sendGossip(address: string, envelope: nodemesh.GossipEnvelope): boolean {
    this.gossip.push({ address, envelope });
    return true;
  }

  isRouteUp(nodeId: string): boolean {
    return this.up.has(nodeId);
  }

  sendRoute(nodeId: string, _address: string, frame: nodemesh.RouteFrame): boolean {
    if (!this.up.has(nodeId)) return false;
    this.routes.push({ nodeId, frame });
    return true;
  }

  ensureRoute(nodeId: string): void {
    this.dials.push(nodeId);
  }

  resetAddress(): void {}

  forget(nodeId: string): void {
    this.forgotten.push(nodeId);
    this.up.delete(nodeId);
  }

  close(): void {}

  routeUp(nodeId: string): void {
    this.up.add(nodeId);
    this.emit("routeUp", nodeId);
  }

  routeDown(nodeId: string, why = "test"): void {
    this.up.delete(nodeId);
    this.emit("routeDown", nodeId, why);
  }
}
