import * as grpc from "@grpc/grpc-js";
import { nodemesh } from "@hermes/proto";
import { decodeOrMalformed, type Inbound } from "../transport/server.js";
import { TokenBucket } from "../utils/token-bucket.js";
import { checkRouteHello, routeHello } from "./descriptor.js";
import { MeshFrameError } from "./envelope.js";
import type { Mesh } from "./mesh.js";

const { GossipEnvelope, RouteFrame, NodeMeshService } = nodemesh;

/** Per-host budgets kept at most; a scan of many source addresses cannot grow the table forever. */
const MAX_PEER_BUDGETS = 10_000;

export function meshServerOptions(maxFrameBytes: number): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": maxFrameBytes,
    "grpc.max_send_message_length": maxFrameBytes,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  };
}

/**
 * The NodeMesh server: a thin shell that decodes, rate-limits and authenticates inbound frames
 * and hands them to the mesh. A bad frame is refused, counted and logged, and the stream goes
 * on; nothing a peer sends can throw into grpc-js.
 */
export function addNodeMesh(server: grpc.Server, mesh: Mesh, peerFramesPerSecond: number): void {
  const definition = {
    join: NodeMeshService.join,
    gossip: { ...NodeMeshService.gossip, requestDeserialize: decodeOrMalformed(GossipEnvelope.decode) },
    routeChat: { ...NodeMeshService.routeChat, requestDeserialize: decodeOrMalformed(RouteFrame.decode) },
  };
  // One budget per remote host, shared by all its streams: opening more streams buys no more.
  const budgets = new Map<string, TokenBucket>();
  const withinBudget = (call: { getPeer(): string }, cost = 1) => {
    const host = call.getPeer().replace(/:\d+$/, "");
    let bucket = budgets.get(host);
    if (!bucket) {
      if (budgets.size > MAX_PEER_BUDGETS) budgets.clear();
      bucket = new TokenBucket(peerFramesPerSecond, 1000, peerFramesPerSecond * 2, mesh.clock.now());
      budgets.set(host, bucket);
    }
    return bucket.take(mesh.clock.now(), cost).ok;
  };

  server.addService(definition as unknown as grpc.ServiceDefinition, {
    join: (
      call: grpc.ServerUnaryCall<nodemesh.JoinRequest, nodemesh.JoinResponse>,
      callback: grpc.sendUnaryData<nodemesh.JoinResponse>,
    ) => {
      if (!withinBudget(call)) {
        mesh.refused("rate_limited", "joins over the per-peer rate", call.getPeer());
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: "join refused: over the per-peer rate" });
        return;
      }
      try {
        callback(null, mesh.answerJoin(call.request));
      } catch (error) {
        const refusal = error instanceof MeshFrameError ? error.refusal : "malformed";
        mesh.refused(refusal, String((error as Error).message), call.getPeer());
        callback({
          code: grpc.status.PERMISSION_DENIED,
          details: `join refused: ${(error as Error).message}`,
        });
      }
    },

    gossip: (call: grpc.ServerDuplexStream<Inbound<nodemesh.GossipEnvelope>, nodemesh.GossipEnvelope>) => {
      call.on("data", (frame: Inbound<nodemesh.GossipEnvelope>) => {
        if (!withinBudget(call))
          return mesh.refused("rate_limited", "gossip over the per-peer rate", call.getPeer());
        if ("malformed" in frame) return mesh.refused("malformed", frame.malformed, call.getPeer());
        mesh.receiveGossip(frame, call.getPeer());
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },

    routeChat: (call: grpc.ServerDuplexStream<Inbound<nodemesh.RouteFrame>, nodemesh.RouteFrame>) => {
      let peer: string | undefined;
      let shut = false;
      const refuseStream = (error: unknown) => {
        const refusal = error instanceof MeshFrameError ? error.refusal : "malformed";
        mesh.refused(refusal, (error as Error).message, call.getPeer());
        shut = true;
        call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: (error as Error).message });
      };
      call.on("data", (frame: Inbound<nodemesh.RouteFrame>) => {
        if (shut) return; // refused at its first frame: whatever was still in flight is not looked at
        if (!withinBudget(call, routeFrameCost(frame)))
          return mesh.refused("rate_limited", "tieline frames over the per-peer rate", call.getPeer());
        if ("malformed" in frame) {
          if (peer) return mesh.refused("malformed", frame.malformed, peer);
          return refuseStream(
            new MeshFrameError(
              "malformed",
              `tieline opened with a frame that does not decode: ${frame.malformed}`,
            ),
          );
        }
        if (!peer) {
          // The first frame must prove who is speaking; nothing else is taken before it.
          try {
            if (frame.body?.$case !== "hello")
              throw new MeshFrameError(
                "malformed",
                `tieline opened with ${frame.body?.$case ?? "nothing"}, not a hello`,
              );
            peer = checkRouteHello(frame.body.value, mesh.nodeId, mesh.clock.now(), mesh.clockSkewMs);
          } catch (error) {
            return refuseStream(error);
          }
          call.write({ body: { $case: "hello", value: routeHello(mesh.identity, peer, mesh.clock.now()) } });
          return;
        }
        mesh.receiveRoute(peer, frame);
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
}

/** What a tieline frame spends of its peer's budget: one, or one per relay and ack in a batch. */
function routeFrameCost(frame: Inbound<nodemesh.RouteFrame>): number {
  if ("malformed" in frame || frame.body?.$case !== "batch") return 1;
  return Math.max(1, frame.body.value.relays.length + frame.body.value.acks.length);
}
