// The crypto backends side by side: node:crypto ("native") against pure-JS @noble, each
// operation through the same functions the SDK and the node call, alternating the backends
// round by round in one process; the median round of each and their ratio.
//
//   node test/bench/crypto.mjs            (after `npm run build`), or `npm run bench -- --only crypto`
import { createPrivateKey, createPublicKey, sign as nodeSign, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { useCryptoBackend } from "../../node/dist/crypto/index.js";
import { Identity, sign, signingPayload, verify } from "../../node/dist/identity/index.js";
import { deriveChatKeys, newEphemeral, open, seal } from "../../node/dist/sdk/e2e.js";
import { log } from "./util.mjs";

const BACKENDS = ["native", "noble"];
const PAYLOAD = 1024;
/** More distinct keys than the native backend caches (4096): every verification builds its key. */
const FRESH_KEYS = 5000;
const CHAT_ID = "00112233445566778899aabbccddeeff";

/** name → (backend) → the operation, set up outside the timed loop. */
const operations = {
  "seal + open, 1 KiB": () => {
    const key = randomBytes(32);
    const plaintext = randomBytes(PAYLOAD);
    let seq = 0;
    return () => {
      seq++;
      open(key, CHAT_ID, seq, seal(key, CHAT_ID, seq, plaintext));
    };
  },
  "sign (a Connect-sized payload)": () => {
    const identity = Identity.generate();
    const nonce = randomBytes(32);
    return () => sign(identity, "hermes/app-connect/v1", ["node", identity.id, nonce, Date.now()]);
  },
  "verify, a key seen before": () => {
    const identity = Identity.generate();
    const fields = ["node", identity.id, randomBytes(32), 1];
    const signature = sign(identity, "hermes/app-connect/v1", fields);
    return () => {
      if (!verify(identity.publicKey, signature, "hermes/app-connect/v1", fields))
        throw new Error("did not verify");
    };
  },
  "verify, a new key each time": () => {
    const connects = connectsByFreshKeys();
    let i = 0;
    return () => {
      const { publicKey, signature, fields } = connects[i++ % FRESH_KEYS];
      if (!verify(publicKey, signature, "hermes/app-connect/v1", fields)) throw new Error("did not verify");
    };
  },
  "chat keys (X25519 key pair + agreement + HKDF)": () => {
    const peer = newEphemeral();
    const transcript = {
      chatId: CHAT_ID,
      initiatorAppId: "a".repeat(32),
      targetAppId: "b".repeat(32),
      targetEphemeralKey: peer.publicKey,
    };
    return () => {
      const mine = newEphemeral();
      deriveChatKeys({ ...transcript, initiatorEphemeralKey: mine.publicKey }, "initiator", mine.secretKey);
    };
  },
};

/** Signed Connect payloads by distinct keys, made with node:crypto directly (fast to set up). */
function connectsByFreshKeys() {
  return Array.from({ length: FRESH_KEYS }, (_, i) => {
    // Not generateKeyPairSync, which can hang Node.js 20 (node/src/crypto/native.ts).
    const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), randomBytes(32)]);
    const privateKey = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
    const raw = new Uint8Array(
      createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32),
    );
    const fields = ["node", `app-${i}`, randomBytes(32), 1];
    const payload = signingPayload("hermes/app-connect/v1", fields);
    return { publicKey: raw, signature: new Uint8Array(nodeSign(null, payload, privateKey)), fields };
  });
}

/** Runs `op` for about `ms`; microseconds per call. */
function time(op, ms) {
  for (let i = 0; i < 20; i++) op(); // warm-up
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 10; i++) op();
    calls += 10;
    elapsed = performance.now() - started;
  } while (elapsed < ms);
  return (elapsed * 1000) / calls;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round2 = (x) => Math.round(x * 100) / 100;

/** Every operation on both backends, alternating round by round. */
export async function cryptoBackends({ rounds = 5, msPerRound = 300 } = {}) {
  const out = {};
  for (const [name, setUp] of Object.entries(operations)) {
    log(`crypto: ${name}, ${rounds} rounds per backend ...`);
    const samples = { native: [], noble: [] };
    const ops = {};
    for (const backend of BACKENDS) {
      useCryptoBackend(backend);
      ops[backend] = setUp();
    }
    for (let round = 0; round < rounds; round++) {
      for (const backend of round % 2 === 0 ? BACKENDS : [...BACKENDS].reverse()) {
        useCryptoBackend(backend);
        samples[backend].push(time(ops[backend], msPerRound));
      }
    }
    const native = median(samples.native);
    const noble = median(samples.noble);
    out[name] = { nativeUs: round2(native), nobleUs: round2(noble), ratio: round2(native / noble) };
  }
  useCryptoBackend("auto");
  return { payloadBytes: PAYLOAD, rounds, operations: out };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await cryptoBackends();
  for (const [name, r] of Object.entries(result.operations)) {
    console.log(
      `${name.padEnd(48)} native ${String(r.nativeUs).padStart(8)} µs   noble ${String(r.nobleUs).padStart(8)} µs   native/noble ${r.ratio}`,
    );
  }
}
