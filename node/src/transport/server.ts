import type * as grpc from "@grpc/grpc-js";

/** A frame as it comes off the wire: decoded, or the reason it could not be. */
export type Inbound<T> = T | { malformed: string };

/**
 * Wraps a protobuf decoder so that it never throws into grpc-js: bytes that do not decode become
 * `{ malformed: reason }`, which the service refuses with a clear error while the stream stays up.
 */
export function decodeOrMalformed<T>(decode: (bytes: Uint8Array) => T): (bytes: Buffer) => Inbound<T> {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      return { malformed: error instanceof Error ? error.message : String(error) };
    }
  };
}

export function bindServer(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

/** Lets calls in flight finish for up to `graceMs`, then cuts what is left. */
export function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
