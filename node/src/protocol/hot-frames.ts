import { approuter, nodemesh } from "@hermes/proto";

/**
 * Encoders for the frames every message crosses (messages, deliveries, relays, their acks and
 * batches of them), byte for byte what ts-proto writes, into one buffer of the exact size: the
 * generic writer grows its buffer and copies every nested message once more. Frames of any
 * other kind go to ts-proto.
 */

/** A message's fields, in field-number order: strings, uint64s, bytes, or repeated messages. */
type Field =
  | { no: number; key: string; kind: "string" | "uint64" | "bytes" }
  | { no: number; key: string; kind: "messages"; of: Field[] };
type Fields = Field[];
type Value = Record<string, unknown>;

const scalar = (no: number, key: string, kind: "string" | "uint64" | "bytes"): Field => ({ no, key, kind });
const CHAT_MESSAGE = [
  scalar(1, "chatId", "string"),
  scalar(2, "seq", "uint64"),
  scalar(3, "ciphertext", "bytes"),
];
const ACK = [scalar(1, "chatId", "string"), scalar(2, "seq", "uint64")];
const DELIVERY = [
  scalar(1, "chatId", "string"),
  scalar(2, "fromAppId", "string"),
  scalar(3, "seq", "uint64"),
  scalar(4, "ciphertext", "bytes"),
];
const RELAY = [...DELIVERY, scalar(5, "sentAtMs", "uint64")];
const batchOf = (items: string, of: Fields): Fields => [
  { no: 1, key: items, kind: "messages", of },
  { no: 2, key: "acks", kind: "messages", of: ACK },
];

/** Per frame type: the body cases encoded here, by field number. */
const APP_BODIES: Record<string, [number, Fields]> = {
  message: [14, CHAT_MESSAGE],
  ack: [15, ACK],
  batch: [19, batchOf("messages", CHAT_MESSAGE)],
};
const NODE_BODIES: Record<string, [number, Fields]> = {
  delivery: [15, DELIVERY],
  ack: [16, ACK],
  batch: [23, batchOf("deliveries", DELIVERY)],
};
const ROUTE_BODIES: Record<string, [number, Fields]> = {
  relay: [14, RELAY],
  relayAck: [15, ACK],
  batch: [20, batchOf("relays", RELAY)],
};

export function encodeAppFrame(frame: approuter.AppFrame): Buffer {
  return (
    encodeFrame(frame.correlationId, frame.body, APP_BODIES) ?? finished(approuter.AppFrame.encode(frame))
  );
}

export function encodeNodeFrame(frame: approuter.NodeFrame): Buffer {
  return (
    encodeFrame(frame.correlationId, frame.body, NODE_BODIES) ?? finished(approuter.NodeFrame.encode(frame))
  );
}

export function encodeRouteFrame(frame: nodemesh.RouteFrame): Buffer {
  return encodeFrame("", frame.body, ROUTE_BODIES) ?? finished(nodemesh.RouteFrame.encode(frame));
}

/** ts-proto's bytes as a Buffer over the same memory. */
function finished(writer: { finish(): Uint8Array }): Buffer {
  const bytes = writer.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** correlation_id (field 1, when set) and the body; undefined for a body not encoded here. */
function encodeFrame(
  correlationId: string,
  body: { $case: string; value: unknown } | undefined,
  bodies: Record<string, [number, Fields]>,
): Buffer | undefined {
  const known = body && bodies[body.$case];
  if (!known) return undefined;
  const [no, fields] = known;
  const value = body.value as Value;
  const cid = correlationId === "" ? 0 : Buffer.byteLength(correlationId);
  const inner = sizeOf(fields, value);
  const total = (cid > 0 ? 1 + varintSize(cid) + cid : 0) + tagSize(no) + varintSize(inner) + inner;
  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  if (cid > 0) {
    buf[at++] = (1 << 3) | 2;
    at = writeVarint(buf, at, cid);
    at += buf.write(correlationId, at, "utf8");
  }
  at = writeVarint(buf, at, (no << 3) | 2);
  at = writeVarint(buf, at, inner);
  at = writeFields(buf, at, fields, value);
  if (at !== total) throw new Error(`hot frame encoding wrote ${at} of ${total} bytes`);
  return buf;
}

function sizeOf(fields: Fields, value: Value): number {
  let size = 0;
  for (const f of fields) {
    const v = value[f.key];
    switch (f.kind) {
      case "string": {
        const n = Buffer.byteLength(v as string);
        if (n > 0) size += tagSize(f.no) + varintSize(n) + n;
        break;
      }
      case "uint64":
        if ((v as number) !== 0) size += tagSize(f.no) + varintSize(v as number);
        break;
      case "bytes": {
        const n = (v as Uint8Array).length;
        if (n > 0) size += tagSize(f.no) + varintSize(n) + n;
        break;
      }
      case "messages":
        for (const item of v as Value[]) {
          const n = sizeOf(f.of, item);
          size += tagSize(f.no) + varintSize(n) + n;
        }
        break;
    }
  }
  return size;
}

function writeFields(buf: Buffer, start: number, fields: Fields, value: Value): number {
  let at = start;
  for (const f of fields) {
    const v = value[f.key];
    switch (f.kind) {
      case "string": {
        const s = v as string;
        if (s === "") break;
        at = writeVarint(buf, at, (f.no << 3) | 2);
        at = writeVarint(buf, at, Buffer.byteLength(s));
        at += buf.write(s, at, "utf8");
        break;
      }
      case "uint64":
        if ((v as number) === 0) break;
        at = writeVarint(buf, at, f.no << 3);
        at = writeVarint(buf, at, v as number);
        break;
      case "bytes": {
        const b = v as Uint8Array;
        if (b.length === 0) break;
        at = writeVarint(buf, at, (f.no << 3) | 2);
        at = writeVarint(buf, at, b.length);
        buf.set(b, at);
        at += b.length;
        break;
      }
      case "messages":
        for (const item of v as Value[]) {
          at = writeVarint(buf, at, (f.no << 3) | 2);
          at = writeVarint(buf, at, sizeOf(f.of, item));
          at = writeFields(buf, at, f.of, item);
        }
        break;
    }
  }
  return at;
}

const tagSize = (no: number) => varintSize(no << 3);

/** Bytes of a varint for a non-negative integer up to 2^53. */
function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 128; v = Math.floor(v / 128)) size++;
  return size;
}

function writeVarint(buf: Buffer, start: number, n: number): number {
  let at = start;
  let v = n;
  while (v >= 128) {
    buf[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}
