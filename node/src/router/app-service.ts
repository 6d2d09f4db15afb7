import type * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import type { Logger } from "pino";
import { decodeOrMalformed } from "../transport/server.js";
import type { InboundFrame, Router } from "./router.js";

const { AppFrame, AppRouterService } = approuter;

/** Frames queued on one app's stream beyond which the app is considered too slow to keep up. */
const MAX_QUEUED_FRAMES = 20_000;

/**
 * Decoding never throws into grpc-js: bytes that are not an AppFrame become a `malformed`
 * frame, which the router answers with an error while the stream stays up.
 */
const openMethod = {
  ...AppRouterService.open,
  requestDeserialize: decodeOrMalformed(AppFrame.decode) as (bytes: Buffer) => InboundFrame,
};

export function appServerOptions(maxFrameBytes: number): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": maxFrameBytes,
    "grpc.max_send_message_length": maxFrameBytes,
    // Long-lived streams: ping idle connections so dead peers are noticed, and let apps ping too.
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  };
}

/** The AppRouter gRPC service: a thin shell that feeds each Open stream to the router. */
export function addAppRouter(server: grpc.Server, router: Router, logger: Logger): void {
  server.addService({ open: openMethod } as unknown as grpc.ServiceDefinition, {
    open: (call: grpc.ServerDuplexStream<InboundFrame, approuter.NodeFrame>) => {
      let ended = false;
      const session = router.open({
        send(frame) {
          if (ended) return;
          call.write(frame);
          if (call.writableLength > MAX_QUEUED_FRAMES) {
            logger.warn(
              { session: session.id, queued: call.writableLength },
              "app too slow, closing its stream",
            );
            this.end();
            router.disconnected(session);
          }
        },
        end() {
          if (ended) return;
          ended = true;
          call.end();
        },
      });
      call.on("data", (frame: InboundFrame) => router.receive(session, frame));
      const gone = () => {
        ended = true;
        router.disconnected(session);
      };
      call.on("end", () => {
        gone();
        call.end();
      });
      call.on("error", gone);
      call.on("cancelled", gone);
      call.on("close", gone);
    },
  });
}
