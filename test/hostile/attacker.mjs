// A hostile app client in its own process, one attack per mode, as fast as one process goes
// (bounded by --duration-ms or a count). Prints one JSON line with what it did and what it was
// told, then exits; SIGTERM ends the attack early, with the same line.
//
//   node test/hostile/attacker.mjs <mode> --target 127.0.0.1:PORT [--from 127.0.0.2] [options]
//
// Modes (test/hostile/README.md):
//   slow-reader      apps that accept chats and then never read, fed 60 KB messages by accomplices
//   unauthenticated  streams that never connect but send a Heartbeat now and then
//   connect-flood    Connects with random keys and signatures, many at once
//   frame-flood      an app that pipelines ignored frames (MessageAck seq 0 of its own chat)
//   offer-flood      fresh identities, each offering a chat to one app (--to)
//   idle-connections HTTP/2 connections that finish the preface and open no stream, held
//   mesh-probes      to a mesh port: plain text, TLS without a certificate, and silence
import { randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import {
  chatPair,
  connect,
  connectedApp,
  ErrorCode,
  newIdentity,
  OpenStream,
  splitHostPort,
  startChatFrame,
} from "./wire.mjs";

const { positionals, values: opts } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: "string" },
    from: { type: "string", default: "" },
    "duration-ms": { type: "string", default: "0" },
    // slow-reader
    readers: { type: "string", default: "1" },
    rounds: { type: "string", default: "1" },
    "message-bytes": { type: "string", default: "61440" },
    "max-messages": { type: "string", default: "250" },
    // unauthenticated, connect-flood, idle-connections, mesh-probes
    streams: { type: "string", default: "10" },
    connections: { type: "string", default: "4" },
    "every-ms": { type: "string", default: "500" },
    reopen: { type: "boolean", default: false },
    concurrency: { type: "string", default: "32" },
    // offer-flood
    to: { type: "string" },
    identities: { type: "string", default: "0" },
    hold: { type: "string", default: "200" },
  },
});
const mode = positionals[0];
if (!opts.target) fail("--target host:port is required");
const target = opts.target;
const from = opts.from || undefined;
const durationMs = Number(opts["duration-ms"]);
const started = Date.now();
let stopping = false;
const stopAt = () => stopping || (durationMs > 0 && Date.now() - started >= durationMs);
/** When a timed attack ends: connecting apps give up then (undefined: their own patience). */
const endsAt = durationMs > 0 ? started + durationMs : undefined;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const codeName = (code) =>
  (Object.entries(ErrorCode).find(([, value]) => value === code)?.[0] ?? String(code))
    .replace("ERROR_CODE_", "")
    .toLowerCase();
const tally = (counts, key) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

const modes = {
  "slow-reader": slowReader,
  unauthenticated,
  "connect-flood": connectFlood,
  "frame-flood": frameFlood,
  "offer-flood": offerFlood,
  "idle-connections": idleConnections,
  "mesh-probes": meshProbes,
};
if (!modes[mode]) fail(`unknown mode ${mode} (known: ${Object.keys(modes).join(", ")})`);
/** What the attack has done so far: each mode fills it in as it goes. */
let report = {};
const finish = (extra = {}) => {
  process.stdout.write(`${JSON.stringify({ mode, elapsedMs: Date.now() - started, ...report, ...extra })}\n`);
  process.exit(0);
};
/** After an app it could not connect, a worker pauses this long: its loop never spins. */
const REFUSED_PAUSE_MS = 100;
/** A slow reader not cut this long after its accomplice stopped sending counts as not cut. */
const CUT_WAIT_MS = 10_000;
/** After SIGTERM, streams still waiting on the node get this long to wind down before the report goes out. */
const STOP_GRACE_MS = 2000;
process.once("SIGTERM", () => {
  stopping = true;
  setTimeout(finish, STOP_GRACE_MS);
});
try {
  report = await modes[mode]();
  finish();
} catch (error) {
  finish({ error: String(error?.stack ?? error) });
}

/**
 * Each round, `readers` apps each accept a chat from an accomplice and stop reading; the
 * accomplice sends messages until the node cuts the reader's stream (or max-messages, the
 * in-flight bound per chat). Every round is made of fresh identities. A pair the node would
 * not connect (refused, or held at the door and closed) counts as refused, and the attack goes
 * on.
 */
async function slowReader() {
  const readers = Number(opts.readers);
  const messageBytes = Number(opts["message-bytes"]);
  const maxMessages = Number(opts["max-messages"]);
  const result = { rounds: 0, readers: 0, refused: 0, cut: 0, notCut: 0, messagesSent: 0, bytesSent: 0 };
  report = result;
  const payload = randomBytes(messageBytes);
  const one = async () => {
    const pair = await chatPair(target, from, endsAt).catch(() => undefined);
    if (!pair) {
      result.refused++;
      return sleep(REFUSED_PAUSE_MS);
    }
    const { initiator: sender, acceptor: reader, chatId } = pair;
    reader.stream.stopReading();
    let seq = 0;
    while (!reader.stream.ended && !sender.stream.ended && seq < maxMessages && !stopping) {
      seq++;
      if (!sender.stream.write({ message: { chatId, seq, ciphertext: payload } }))
        await Promise.race([sender.stream.drained(), reader.stream.closed]);
      result.messagesSent++;
      result.bytesSent += messageBytes;
    }
    const cut = await Promise.race([
      reader.stream.closed.then(() => true),
      sleep(CUT_WAIT_MS).then(() => false),
    ]);
    result[cut ? "cut" : "notCut"]++;
    sender.close();
    reader.close();
  };
  const rounds = Number(opts.rounds);
  while (!stopAt() && (durationMs > 0 || result.rounds < rounds)) {
    await Promise.all(Array.from({ length: readers }, one));
    result.rounds++;
    result.readers += readers;
  }
  return result;
}

/**
 * `streams` streams over `connections` connections that never send a Connect, each sending a
 * Heartbeat every every-ms and keeping its own half open. Per stream: challenged or refused at
 * once; when the node said SessionClosed; when the stream was closed for good (the attacker can
 * no longer send on it). With --reopen, a closed stream is replaced until the duration ends.
 */
async function unauthenticated() {
  const everyMs = Number(opts["every-ms"]);
  const connections = pool(Number(opts.connections));
  const result = {
    opened: 0,
    challenged: 0,
    refusedAtOnce: 0,
    closeDetails: {},
    /** Challenged streams: how many were told SessionClosed, and the longest from opening to it. */
    toldClosed: 0,
    toldClosedMsMax: 0,
    /** Streams that ended for good, challenged or refused at once, and the longest each stayed open. */
    challengedEnded: 0,
    challengedOpenMsMax: 0,
    refusedEnded: 0,
    refusedOpenMsMax: 0,
    stillOpen: 0,
  };
  report = result;
  const one = async (index) => {
    do await oneStream(index);
    while (opts.reopen && !stopAt());
  };
  const oneStream = async (index) => {
    const openedAt = Date.now();
    const stream = connections.open(index);
    result.opened++;
    let challenged = false;
    stream.onFrame = (frame) => {
      if (frame.body !== "sessionClosed") return;
      tally(result.closeDetails, frame.sessionClosed.detail);
      if (!challenged) return;
      result.toldClosed++;
      result.toldClosedMsMax = Math.max(result.toldClosedMsMax, Date.now() - openedAt);
    };
    const first = await stream.next(["challenge", "sessionClosed"]).catch(() => undefined);
    challenged = first?.body === "challenge";
    result[challenged ? "challenged" : "refusedAtOnce"]++;
    const beat = setInterval(() => stream.write({ heartbeat: { timestampMs: Date.now() } }), everyMs);
    const closed = await Promise.race([
      stream.closed.then(() => true),
      (async () => {
        while (!stopAt()) await sleep(50);
        return false;
      })(),
    ]);
    clearInterval(beat);
    if (closed) {
      const kind = challenged ? "challenged" : "refused";
      result[`${kind}Ended`]++;
      result[`${kind}OpenMsMax`] = Math.max(result[`${kind}OpenMsMax`], Date.now() - openedAt);
    } else {
      result.stillOpen++;
      stream.close();
    }
  };
  await Promise.all(Array.from({ length: Number(opts.streams) }, (_, i) => one(i)));
  connections.destroy();
  return result;
}

/** Connects with random keys and signatures (the right nonce and a fresh timestamp), `concurrency` at once. */
async function connectFlood() {
  const connections = pool(Number(opts.connections));
  // attempts: streams tried; connects: Connects sent (a stream the node took and challenged).
  const result = { attempts: 0, connects: 0, answers: {} };
  report = result;
  const worker = async (index) => {
    while (!stopAt()) {
      result.attempts++;
      const stream = connections.open(index);
      try {
        const challenge = (await stream.next(["challenge"])).challenge;
        stream.write({
          connect: {
            publicKey: randomBytes(32),
            nonce: challenge.nonce,
            timestampMs: Date.now(),
            signature: randomBytes(64),
          },
        });
        result.connects++;
        const answer = await stream.next(["error", "connectAck", "sessionClosed"]);
        tally(result.answers, answer.body === "error" ? codeName(answer.error.code) : answer.body);
      } catch (error) {
        tally(result.answers, String(error.message));
      } finally {
        stream.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Number(opts.concurrency) }, (_, i) => worker(i)));
  connections.destroy();
  return result;
}

/**
 * An app of the attacker's acks seq 0 of its own chat (a frame the node reads and ignores) as
 * fast as its stream takes them; when the node closes it, it connects again and goes on.
 */
async function frameFlood() {
  const pair = await chatPair(target, from);
  let app = pair.initiator;
  const result = { framesSent: 0, sessions: 1, answers: {}, closeDetails: {} };
  report = result;
  for (;;) {
    app.stream.onFrame = (frame) => {
      if (frame.body === "error") tally(result.answers, codeName(frame.error.code));
      if (frame.body === "sessionClosed") tally(result.closeDetails, frame.sessionClosed.detail);
    };
    const frame = { ack: { chatId: pair.chatId, seq: 0 } };
    while (!app.stream.ended && !stopAt()) {
      result.framesSent++;
      if (!app.stream.write(frame)) await Promise.race([app.stream.drained(), app.stream.closed]);
    }
    if (stopAt()) break;
    app.close();
    app = await connectedApp(target, from, app.identity);
    result.sessions++;
  }
  app.close();
  pair.acceptor.close();
  return result;
}

/**
 * Fresh identities connect and each offers a chat to --to, `concurrency` at once, until
 * --identities have offered (or the duration ends). At most --hold of them stay connected
 * (their offers stay pending); older ones leave.
 */
async function offerFlood() {
  if (!opts.to) fail("offer-flood needs --to APP_ID");
  const total = Number(opts.identities);
  const hold = Number(opts.hold);
  const result = { offers: 0, refused: 0, answers: {} };
  report = result;
  const held = [];
  const worker = async () => {
    while (!stopAt() && (total === 0 || result.offers < total)) {
      result.offers++; // counted before connecting, so that workers stop at --identities
      const app = await connectedApp(target, from, newIdentity(), endsAt).catch(() => undefined);
      if (!app) {
        result.offers--;
        result.refused++;
        await sleep(REFUSED_PAUSE_MS);
        continue;
      }
      const start = startChatFrame(app.identity, opts.to);
      app.stream.write(start);
      const answer = await app.stream.next(["chatPending", "error", "chatRejected"]).catch((e) => e);
      tally(
        result.answers,
        answer.body === "error" ? codeName(answer.error.code) : (answer.body ?? "timeout"),
      );
      held.push(app);
      while (held.length > hold) held.shift().close();
    }
  };
  await Promise.all(Array.from({ length: Number(opts.concurrency) }, worker));
  for (const app of held) app.close();
  return result;
}

/**
 * --connections HTTP/2 connections opened (50 at a time) and held without a stream. One the
 * node admitted answers the preface with its SETTINGS; one it refused is closed without them.
 * Per kind: how many, and the longest one stayed open.
 */
async function idleConnections() {
  const total = Number(opts.connections);
  const result = { opened: 0, admitted: 0, refused: 0, admittedOpenMsMax: 0, stillOpen: 0 };
  report = result;
  const one = async () => {
    const openedAt = Date.now();
    const session = connect(target, from);
    result.opened++;
    let admitted = false;
    session.once("remoteSettings", () => {
      admitted = true;
      result.admitted++;
    });
    const closed = await Promise.race([
      new Promise((resolve) => session.once("close", () => resolve(true))),
      (async () => {
        while (!stopAt()) await sleep(50);
        return false;
      })(),
    ]);
    if (!closed) {
      result.stillOpen++;
      session.destroy();
    } else if (admitted) result.admittedOpenMsMax = Math.max(result.admittedOpenMsMax, Date.now() - openedAt);
    else result.refused++;
  };
  const held = [];
  for (let i = 0; i < total && !stopAt(); i += 50) {
    const batch = Array.from({ length: Math.min(50, total - i) }, one);
    held.push(...batch);
    await sleep(20);
  }
  await Promise.all(held);
  return result;
}

/**
 * --connections of each kind to a mesh port (--target): plain text (an HTTP/2 preface in the
 * clear), TLS without a client certificate, and a TCP connection that sends nothing. Per kind:
 * how many the node closed, and the longest one stayed open.
 */
async function meshProbes() {
  const [host, port] = splitHostPort(target);
  const count = Number(opts.connections);
  const result = {};
  report = result;
  const probe = async (kind, open) => {
    result[kind] ??= { closed: 0, openMsMax: 0, stillOpen: 0 };
    const counts = result[kind];
    const openedAt = Date.now();
    const socket = open();
    socket.on("error", () => {});
    const closed = await Promise.race([
      new Promise((resolve) => socket.once("close", () => resolve(true))),
      (async () => {
        while (!stopAt()) await sleep(50);
        return false;
      })(),
    ]);
    if (closed) {
      counts.closed++;
      counts.openMsMax = Math.max(counts.openMsMax, Date.now() - openedAt);
    } else {
      counts.stillOpen++;
      socket.destroy();
    }
  };
  const local = from ? { localAddress: from } : {};
  const kinds = {
    "plain-text": () =>
      net.connect({ host, port, ...local }, function () {
        this.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      }),
    "tls-without-certificate": () =>
      tls.connect({ host, port, ...local, rejectUnauthorized: false, ALPNProtocols: ["h2"] }),
    silent: () => net.connect({ host, port, ...local }),
  };
  await Promise.all(
    Object.entries(kinds).flatMap(([kind, open]) => Array.from({ length: count }, () => probe(kind, open))),
  );
  return result;
}

/**
 * `size` HTTP/2 connections that streams are spread over; one the node closed (Node's HTTP/2
 * closes a connection whose client resets streams too fast) is replaced by a new one.
 */
function pool(size) {
  const sessions = Array.from({ length: size }, () => connect(target, from));
  return {
    open(index) {
      const at = index % size;
      if (sessions[at].closed || sessions[at].destroyed) sessions[at] = connect(target, from);
      try {
        return new OpenStream(sessions[at]);
      } catch {
        sessions[at].destroy();
        sessions[at] = connect(target, from);
        return new OpenStream(sessions[at]);
      }
    },
    destroy() {
      for (const session of sessions) session.destroy();
    },
  };
}

function fail(message) {
  process.stderr.write(`attacker: ${message}\n`);
  process.exit(2);
}
