// The AppRouter protocol as an outside client speaks it, written from
// proto/hermes/approuter/v1/approuter.proto and docs/approuter-protocol.md alone: HTTP/2 with gRPC
// message framing (node:http2), frames encoded by protobufjs from the .proto file, identities and
// signatures with node:crypto. Nothing here comes from the node's own code.
import { createHash, createPrivateKey, createPublicKey, sign as ed25519Sign, randomBytes } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const root = protobuf.loadSync(
  fileURLToPath(new URL("../../proto/hermes/approuter/v1/approuter.proto", import.meta.url)),
);
const AppFrame = root.lookupType("hermes.approuter.v1.AppFrame");
const NodeFrame = root.lookupType("hermes.approuter.v1.NodeFrame");
export const ErrorCode = root.lookupEnum("hermes.approuter.v1.ErrorCode").values;
export const SessionCloseReason = root.lookupEnum("hermes.approuter.v1.SessionCloseReason").values;
const OPEN_PATH = "/hermes.approuter.v1.AppRouter/Open";
/** Frames kept per stream for next(): the handshake's; a flood's answers are only counted (onFrame). */
const KEPT_FRAMES = 64;

// ---- identities and signatures (docs/approuter-protocol.md, "Signatures")

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** An app ID: base32 of the first 20 bytes of SHA-256("hermes/id/v1" ‖ public key). */
export function appIdOf(publicKey) {
  const digest = createHash("sha256").update("hermes/id/v1").update(publicKey).digest().subarray(0, 20);
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of digest) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(buffer >>> bits) & 31];
    }
  }
  return out;
}

/** Label and fields, each as a 4-byte big-endian length and its bytes; numbers as 8-byte big-endian. */
export function signingPayload(label, fields) {
  const parts = [label, ...fields].map((field) => {
    if (typeof field === "string") return Buffer.from(field, "utf8");
    if (typeof field === "number") {
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(BigInt(field));
      return out;
    }
    return Buffer.from(field);
  });
  return Buffer.concat(
    parts.flatMap((part) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(part.length);
      return [length, part];
    }),
  );
}

/**
 * A key from 32 random bytes (PKCS #8 prefix + seed), not from generateKeyPairSync, which can hang
 * Node.js 20 for good (node/src/crypto/native.ts says how).
 */
const freshKey = (pkcs8Prefix) =>
  createPrivateKey({
    key: Buffer.concat([Buffer.from(pkcs8Prefix, "hex"), randomBytes(32)]),
    format: "der",
    type: "pkcs8",
  });
/** The raw 32-byte public key: the end of its SubjectPublicKeyInfo. */
const rawPublicKey = (privateKey) =>
  createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);

export function newIdentity() {
  const privateKey = freshKey("302e020100300506032b657004220420");
  const raw = rawPublicKey(privateKey);
  return {
    id: appIdOf(raw),
    publicKey: raw,
    sign: (label, fields) => ed25519Sign(null, signingPayload(label, fields), privateKey),
  };
}

/** An X25519 public key (the attacker never decrypts anything, so the secret half is dropped). */
export const ephemeralKey = () => rawPublicKey(freshKey("302e020100300506032b656e04220420"));

// ---- gRPC over HTTP/2

/** An HTTP/2 connection to `target` ("host:port") whose socket leaves from local address `from`. */
export function connect(target, from) {
  const [host, port] = splitHostPort(target);
  const session = http2.connect(`http://${target}`, {
    createConnection: () => net.connect({ host, port, ...(from ? { localAddress: from } : {}) }),
  });
  session.on("error", () => {}); // a reset connection shows on its streams
  return session;
}

/** "host:port" or "[v6]:port" → [host, port]. */
export function splitHostPort(target) {
  const at = target.lastIndexOf(":");
  return [target.slice(0, at).replace(/^\[(.*)\]$/, "$1"), Number(target.slice(at + 1))];
}

/**
 * One AppRouter.Open stream: frames out are AppFrames (plain objects), frames in are decoded
 * NodeFrames (uint64 as numbers). `closed` resolves when the stream ends, however.
 */
export class OpenStream {
  constructor(session) {
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    this.stream = session.request({
      ":method": "POST",
      ":path": OPEN_PATH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    let pending = Buffer.alloc(0);
    this.stream.on("data", (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 5 + length) break;
        this.received(pending.subarray(5, 5 + length));
        pending = pending.subarray(5 + length);
      }
    });
    // A reset while this side still has writes buffered shows as 'aborted' (no 'close' follows
    // until those writes are dropped, which destroy() does).
    this.stream.once("aborted", () => this.stream.destroy());
    this.closed = new Promise((resolve) => this.stream.once("close", resolve)).then(() => {
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("stream closed"));
    });
    this.stream.on("error", () => {});
  }

  received(bytes) {
    const frame = NodeFrame.toObject(NodeFrame.decode(bytes), {
      longs: Number,
      oneofs: true,
      defaults: true,
    });
    if (this.frames.length < KEPT_FRAMES) this.frames.push(frame);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(frame)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
    this.onFrame?.(frame);
  }

  /** The first frame (already received or to come) whose body is one of `kinds`. */
  next(kinds, timeoutMs = 10_000) {
    const match = (frame) => kinds.includes(frame.body);
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    if (this.ended) return Promise.reject(new Error(`stream closed before ${kinds.join("/")}`));
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject };
      this.waiters.push(waiter);
      setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at < 0) return;
        this.waiters.splice(at, 1);
        reject(new Error(`no ${kinds.join("/")} within ${timeoutMs} ms`));
      }, timeoutMs).unref();
    });
  }

  /** Writes one AppFrame; false when the stream's buffer is full (wait for drained()). */
  write(frame) {
    if (this.ended || this.stream.destroyed) return false;
    const body = AppFrame.encode(AppFrame.fromObject(frame)).finish();
    const message = Buffer.alloc(5 + body.length);
    message.writeUInt32BE(body.length, 1);
    message.set(body, 5);
    return this.stream.write(message);
  }

  drained() {
    return this.ended ? Promise.resolve() : new Promise((resolve) => this.stream.once("drain", resolve));
  }

  /** Stops reading: HTTP/2 flow control then stops the node from sending more. */
  stopReading() {
    this.stream.pause();
  }

  close() {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}

/** Answers the challenge with a valid Connect for `identity`; resolves with the ConnectAck or Error frame. */
export async function authenticate(stream, identity) {
  const challenge = (await stream.next(["challenge"])).challenge;
  const timestampMs = Date.now();
  stream.write({
    correlationId: "connect",
    connect: {
      publicKey: identity.publicKey,
      nonce: challenge.nonce,
      timestampMs,
      signature: identity.sign("hermes/app-connect/v1", [
        challenge.nodeId,
        identity.id,
        challenge.nonce,
        timestampMs,
      ]),
    },
  });
  return stream.next(["connectAck", "error", "sessionClosed"]);
}

/** Connecting is refused for this long at most (the node's per-address connect budget) before giving up. */
const CONNECT_PATIENCE_MS = 30_000;

/** Longer retry_after_ms hints are not waited out: an attacker tries again sooner. */
const MAX_RETRY_WAIT_MS = 1000;

/**
 * A new app connected on its own HTTP/2 connection. While the node says RATE_LIMITED (too many
 * connects from this address) it tries again after the retry_after_ms it was told (at most
 * MAX_RETRY_WAIT_MS), and while it turns the connection away (closed unanswered) soon; until
 * `deadline` (CONNECT_PATIENCE_MS from now by default). Any other refusal throws.
 */
export async function connectedApp(target, from, identity = newIdentity(), deadline = undefined) {
  const giveUpAt = deadline ?? Date.now() + CONNECT_PATIENCE_MS;
  for (;;) {
    const session = connect(target, from);
    let answered = false;
    session.once("remoteSettings", () => {
      answered = true;
    });
    const stream = new OpenStream(session);
    const answer = await authenticate(stream, identity).catch((error) => ({ body: "failed", error }));
    if (answer.body === "connectAck") {
      return {
        identity,
        session,
        stream,
        close() {
          stream.close();
          session.destroy();
        },
      };
    }
    session.destroy();
    const limited = answer.body === "error" && answer.error.code === ErrorCode.ERROR_CODE_RATE_LIMITED;
    const turnedAway = answer.body === "failed" && !answered;
    if (!(limited || turnedAway) || Date.now() > giveUpAt)
      throw new Error(`connect refused: ${JSON.stringify(answer[answer.body] ?? answer.error?.message)}`);
    // One closed unanswered may have been refused at once (a connection bound): the loop never spins.
    const wait = limited ? Math.min(MAX_RETRY_WAIT_MS, Math.max(10, answer.error.retryAfterMs)) : 10;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** The signed StartChat from `identity` to `targetAppId`. */
export function startChatFrame(identity, targetAppId) {
  const chatId = randomBytes(16).toString("hex");
  const key = ephemeralKey();
  const timestampMs = Date.now();
  return {
    correlationId: chatId,
    startChat: {
      chatId,
      targetAppId,
      ephemeralKey: key,
      timestampMs,
      signature: identity.sign("hermes/chat-offer/v1", [chatId, identity.id, targetAppId, key, timestampMs]),
    },
  };
}

/** The signed AcceptChat of `identity` for a ChatOffer frame's body. */
export function acceptFrame(identity, offer) {
  const key = ephemeralKey();
  const timestampMs = Date.now();
  return {
    acceptChat: {
      chatId: offer.chatId,
      ephemeralKey: key,
      timestampMs,
      signature: identity.sign("hermes/chat-accept/v1", [
        offer.chatId,
        offer.initiatorAppId,
        identity.id,
        offer.ephemeralKey,
        key,
        timestampMs,
      ]),
    },
  };
}

/**
 * Two apps of the attacker's with a ready chat between them: `from` offered, `to` accepted.
 * When either cannot connect (by `deadline`, as in connectedApp), the other is closed and it throws.
 */
export async function chatPair(target, source, deadline = undefined) {
  const apps = await Promise.allSettled([
    connectedApp(target, source, undefined, deadline),
    connectedApp(target, source, undefined, deadline),
  ]);
  const refused = apps.find((a) => a.status === "rejected");
  if (refused) {
    for (const a of apps) if (a.status === "fulfilled") a.value.close();
    throw refused.reason;
  }
  const [initiator, acceptor] = apps.map((a) => a.value);
  const start = startChatFrame(initiator.identity, acceptor.identity.id);
  initiator.stream.write(start);
  const offer = (await acceptor.stream.next(["chatOffer"])).chatOffer;
  acceptor.stream.write(acceptFrame(acceptor.identity, offer));
  await initiator.stream.next(["chatReady"]);
  return { initiator, acceptor, chatId: start.startChat.chatId };
}
