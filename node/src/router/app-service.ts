import http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { approuter } from "@hermes/proto";
import type { Logger } from "pino";
import { combineNodeFrames, encodeNodeFrame, nodeFrameBatchSize } from "../protocol/index.js";
import type { Metrics } from "../telemetry/metrics.js";
import { decodeOrMalformed } from "../transport/server.js";
import { Batcher } from "../utils/batcher.js";
import type { RouterLimits } from "./config.js";
import type { InboundFrame, Router } from "./router.js";
import type { Session } from "./session.js";
import { WriteQueues } from "./write-queues.js";

const { AppFrame, AppRouterService } = approuter;

/** Slow readers are logged at most once per this interval; every one is counted. */
const SLOW_LOG_INTERVAL_MS = 1000;
/**
 * A stream the node ended stops being read at once, and is reset once its client has had this
 * long to read the end. Reset as soon as grpc-js reports the trailers sent, the frames still
 * waiting on the client's flow-control window (SessionClosed and the trailers among them) were
 * dropped; not read, a client that keeps writing is held by flow control meanwhile.
 */
const HALF_OPEN_GRACE_MS = 1000;

/**
 * Decoding never throws into grpc-js: bytes that are not an AppFrame become a `malformed`
 * frame, which the router answers with an error while the stream stays up. Frames out are
 * encoded here (the shell counts their bytes), so grpc-js passes them through.
 */
const openMethod = {
  ...AppRouterService.open,
  requestDeserialize: decodeOrMalformed(AppFrame.decode) as (bytes: Buffer) => InboundFrame,
  responseSerialize: (bytes: Buffer) => bytes,
};

export function appServerOptions(maxFrameBytes: number): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": maxFrameBytes,
    "grpc.max_send_message_length": maxFrameBytes,
    // Long-lived streams: ping idle connections so dead peers are noticed, and let apps ping too.
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 1_000,
  };
}

type OpenCall = grpc.ServerDuplexStream<InboundFrame, Buffer>;

export interface AppServiceComponents {
  router: Router;
  logger: Logger;
  metrics: Metrics;
}

/** The AppRouter gRPC service: a thin shell that feeds each Open stream to the router. */
export function addAppRouter(
  server: grpc.Server,
  components: AppServiceComponents,
  limits: RouterLimits,
): void {
  const { router, logger, metrics } = components;
  const queues = new WriteQueues<OpenCall>(limits);
  const streams = new Map<OpenCall, Stream>();
  metrics.setQueuedBytesSource(() => queues.totalBytes);
  let lastSlowLog = Number.NEGATIVE_INFINITY;
  /** Ends a stream that reads too slowly, and drops what it held at once (a plain end would wait for it). */
  const cutSlow = (call: OpenCall) => {
    const stream = streams.get(call);
    metrics.limitRefusals.inc({ limit: "queued_bytes" });
    if (Date.now() - lastSlowLog > SLOW_LOG_INTERVAL_MS) {
      lastSlowLog = Date.now();
      const session = stream?.session;
      logger.warn(
        { session: session?.id, app: session?.appId || undefined, queuedBytes: queues.totalBytes },
        "app reads too slowly: stream closed",
      );
    }
    if (stream) {
      stream.ended = true;
      stream.batcher.drop();
      router.cutSlow(stream.session);
    }
    queues.drop(call);
    streams.delete(call);
    resetStream(call);
  };

  server.addService({ open: openMethod } as unknown as grpc.ServiceDefinition, {
    open: (call: OpenCall) => {
      const stream = { ended: false } as Stream;
      stream.batcher = new Batcher<approuter.NodeFrame>({
        write(frame) {
          const bytes = encodeNodeFrame(frame);
          const tooMuch = queues.add(call, bytes.length);
          call.write(bytes, () => queues.taken(call, bytes.length));
          if (tooMuch) cutSlow(tooMuch);
        },
        batchable: (frame) => (stream.session?.takesBatches ? nodeFrameBatchSize(frame) : undefined),
        combine: combineNodeFrames,
        maxBytes: () => limits.maxFrameBytes,
      });
      stream.session = router.open(
        {
          send(frame) {
            if (!stream.ended) stream.batcher.send(frame);
          },
          end() {
            if (stream.ended) return;
            stream.batcher.flush();
            stream.ended = true;
            call.end();
            // Once the trailers are out, the stream goes: a client that keeps its own half open
            // could otherwise send on it for ever, and the node would read whatever it sends.
            call.once("cancelled", () => {
              http2StreamOf(call)?.pause();
              setTimeout(
                () => resetStream(call, http2.constants.NGHTTP2_NO_ERROR),
                HALF_OPEN_GRACE_MS,
              ).unref();
            });
          },
          goAway() {
            const connection = http2StreamOf(call)?.session;
            if (connection && !connection.closed) connection.close();
          },
        },
        hostOf(call.getPeer()),
      );
      const { session } = stream;
      streams.set(call, stream);
      call.on("data", (frame: InboundFrame) => router.receive(session, frame));
      const gone = () => {
        stream.ended = true;
        stream.batcher.drop();
        queues.drop(call);
        streams.delete(call);
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

/** One Open stream as the shell keeps it. */
interface Stream {
  session: Session;
  batcher: Batcher<approuter.NodeFrame>;
  ended: boolean;
}

/** "1.2.3.4:5678" or "[::1]:5678" → the host. */
function hostOf(peer: string): string {
  return peer.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

/**
 * Resets the HTTP/2 stream under a call: CANCEL drops the frames still queued on it; NO_ERROR
 * after a complete response asks the client to stop sending (RFC 9113 §8.1). The stream is then
 * destroyed: a closed stream is otherwise kept until its unread frames are read, and one whose
 * reading was paused never is, which held a stopping node's server open for its whole grace.
 */
function resetStream(call: OpenCall, code = http2.constants.NGHTTP2_CANCEL): void {
  const stream = http2StreamOf(call);
  if (stream && !stream.destroyed) {
    stream.close(code);
    stream.destroy();
  } else if (code === http2.constants.NGHTTP2_CANCEL) call.end();
}

/** How deep interceptors may wrap a call (one per server interceptor, the base call last). */
const MAX_CALL_DEPTH = 8;

/**
 * grpc-js has no public way to abort a server call. Its call object keeps the call as `call`;
 * each server interceptor wraps it once more (`nextCall`), and the base call holds the HTTP/2
 * stream as `stream`.
 */
function http2StreamOf(call: OpenCall): http2.ServerHttp2Stream | undefined {
  type Layer = { stream?: http2.ServerHttp2Stream; nextCall?: Layer };
  let layer = (call as unknown as { call?: Layer }).call;
  for (let depth = 0; layer && depth < MAX_CALL_DEPTH; depth++) {
    if (typeof layer.stream?.close === "function") return layer.stream;
    layer = layer.nextCall;
  }
  return undefined;
}
