import { TAG_BYTES } from "../../crypto/backend.js";
import { cryptoBackend, isLowOrderX25519 } from "../../crypto/index.js";
import { TokenBucket } from "../../utils/token-bucket.js";
import type { ChatCipher, CipherState, OpenVerdict } from "../chat-cipher.js";
import { seqNonce } from "../e2e.js";
import { RatchetError, type RatchetErrorCode } from "../errors.js";
import { advance, type ChainState, dropStep, eraseChain, newChain, nextKey } from "./chain.js";
import { type E2eConfig, MIN_STEP_MESSAGES } from "./config.js";
import { type Header, MAX_HEADER_BYTES, readHeader, writeHeader } from "./header.js";
import { copyState, type KeyPair, type RatchetState, stepKeys } from "./state.js";

const encoder = new TextEncoder();

/** Steps that are neither a turn nor after MIN_STEP_MESSAGES, or that fail, may come this many at once… */
const STEP_BURST = 8;
/** …and one per this long after that, by the receiver's clock. */
const STEP_REFILL_MS = 1000;

export interface RatchetOptions {
  chatId: string;
  config: Pick<E2eConfig, "rekeyAfterMessages" | "rekeyAfterMs" | "maxKeyAgeMs" | "maxKeyMessages">;
  /** For the step budget's start. */
  nowMs: number;
  /** Fresh X25519 key pairs; fixed ones reproduce the test vectors. */
  newKeyPair?: () => KeyPair;
}

/**
 * The ratchet of one chat (e2e v2), after Signal's double ratchet, fitted to what Hermes
 * guarantees: messages arrive in order and exactly once, so no key is ever skipped or kept for
 * later, and each direction has its own root chain, so either side may rekey on its own.
 *
 * Each direction has a root key and a sending chain (chain.ts: each message its own key, used
 * keys zeroed). Each app holds a receive key pair and announces a fresh one in a header once the
 * peer's newest chain was made against its current one. A step opens a new sending chain: a
 * fresh X25519 pair, agreed with the peer's newest receive key, into HKDF with the root key;
 * its secret is zeroed at once and its public half travels in the header. A sender steps when
 * the peer announced a key (the turn of the conversation), after `rekeyAfterMessages` messages
 * or `rekeyAfterMs`. A compromised app therefore heals at its next step (its own fresh secret)
 * and at the peer's next step after its next announce; keys used before are gone.
 *
 * The receiver refuses, before any key work, a header that is not the next one (replayed or
 * reordered), a step against a key it does not hold or with the current ratchet key again, and
 * holds back steps beyond its budget (forged ones spend it too); after authentication it ends
 * the chat when the peer's chain is older or longer than allowed. Nothing here does I/O or
 * reads a clock (the caller passes the time).
 */
export class Ratchet implements ChatCipher {
  readonly version = 2;
  readonly overheadBytes = MAX_HEADER_BYTES + TAG_BYTES;
  private readonly chatIdBytes: Uint8Array;
  /** The associated data of the message at hand: its header, then the chat id (UTF-8). */
  private readonly aad: Uint8Array;
  /** Receive side: the budget of steps that are neither a turn nor after a long chain, or that fail. */
  private readonly steps: TokenBucket;
  private readonly newKeyPair: () => KeyPair;

  constructor(
    private readonly s: RatchetState,
    private readonly options: RatchetOptions,
  ) {
    this.chatIdBytes = encoder.encode(options.chatId);
    this.aad = new Uint8Array(MAX_HEADER_BYTES + this.chatIdBytes.length);
    this.steps = new TokenBucket(1, STEP_REFILL_MS, STEP_BURST, options.nowMs);
    this.newKeyPair = options.newKeyPair ?? (() => cryptoBackend().x25519KeyPair());
  }

  /** A step's agreement: a fresh key pair, its secret used once and dropped at once. */
  private agreeFresh(peerPublicKey: Uint8Array): { publicKey: Uint8Array; shared: Uint8Array } {
    if (!this.options.newKeyPair) return cryptoBackend().x25519Fresh(peerPublicKey);
    const pair = this.options.newKeyPair();
    try {
      return { publicKey: pair.publicKey, shared: cryptoBackend().x25519(pair.secretKey, peerPublicKey) };
    } finally {
      pair.secretKey.fill(0);
    }
  }

  seal(seq: number, plaintext: Uint8Array, nowMs: number): Uint8Array {
    const s = this.s;
    const { rekeyAfterMessages, rekeyAfterMs } = this.options.config;
    const header: Header = { epoch: 0, n: 0, sealedAtMs: nowMs };
    let send = s.send;
    const turn = s.peerKey.index > send.peerKeyIndex;
    const due = send.n >= rekeyAfterMessages || (send.n > 0 && nowMs - send.startedAtMs >= rekeyAfterMs);
    if (turn || due) {
      const ratchet = this.agreeFresh(s.peerKey.publicKey);
      const next = stepKeys(send.root, ratchet.shared);
      ratchet.shared.fill(0);
      send.root.fill(0);
      eraseChain(send.chain);
      send = s.send = {
        root: next.root,
        chain: newChain(next.chainKey),
        epoch: send.epoch + 1,
        n: 0,
        startedAtMs: nowMs,
        peerKeyIndex: s.peerKey.index,
      };
      header.step = { peerKeyIndex: s.peerKey.index, ratchetKey: ratchet.publicKey };
    }
    const newest = s.myKeys[s.myKeys.length - 1]!;
    if (s.receive.myKeyIndex === newest.index) {
      // The peer's newest chain uses our newest key: give it a fresh one for its next step.
      const fresh: RatchetState["myKeys"][number] = { index: newest.index + 1, ...this.newKeyPair() };
      s.myKeys.push(fresh);
      header.announce = { index: fresh.index, publicKey: fresh.publicKey };
    }
    if (send.n === 0) send.startedAtMs = nowMs;
    header.epoch = send.epoch;
    header.n = send.n;
    const step = nextKey(send.chain, send.n);
    const length = writeHeader(header, this.aad);
    let out: Uint8Array;
    try {
      out = cryptoBackend().seal(step.key, seqNonce(seq), this.aadAfter(length), plaintext, length);
    } finally {
      advance(send.chain, step); // zeroes the key, used or not
      send.n++;
    }
    out.set(this.aad.subarray(0, length));
    return out;
  }

  open(seq: number, ciphertext: Uint8Array, nowMs: number): OpenVerdict {
    const s = this.s;
    const r = s.receive;
    const read = readHeader(ciphertext);
    if ("malformed" in read) return refuse("malformed", `message ${seq}: ${read.malformed}`);
    const { header: h, length } = read;
    if (ciphertext.length < length + TAG_BYTES)
      return refuse(
        "malformed",
        `message ${seq}: ${ciphertext.length} bytes is too short for its header and tag`,
      );

    let mine: (KeyPair & { index: number }) | undefined;
    if (h.step) {
      if (h.epoch !== r.epoch + 1 || h.n !== 0)
        return refuse(
          "out_of_order",
          `message ${seq}: a step must open epoch ${r.epoch + 1} at message 0, got epoch ${h.epoch} message ${h.n} (replayed or reordered)`,
        );
      const index = h.step.peerKeyIndex;
      mine = s.myKeys.find((k) => k.index === index);
      if (!mine || index < r.myKeyIndex)
        return refuse(
          "unknown_key",
          index < r.myKeyIndex
            ? `message ${seq}: a step against receive key #${index}, older than #${r.myKeyIndex} already used (replayed)`
            : `message ${seq}: a step against receive key #${index}, which this app has not announced`,
        );
      if (bytesEqual(h.step.ratchetKey, r.ratchetKey))
        return refuse(
          "replayed_key",
          `message ${seq}: a step with the ratchet key of the current chain (replayed)`,
        );
      // No agreement without a token there: forged steps spend one each (below), so a node
      // cannot make the app agree more than the budget allows.
      const budget = this.steps.check(nowMs);
      if (!budget.ok) return { kind: "held", retryAfterMs: budget.retryAfterMs };
    } else if (h.epoch !== r.epoch || h.n !== r.n) {
      return refuse(
        "out_of_order",
        `message ${seq}: expected epoch ${r.epoch} message ${r.n}, got epoch ${h.epoch} message ${h.n} (replayed or reordered)`,
      );
    }
    if (h.announce && h.announce.index !== s.peerKey.index + 1)
      return refuse(
        "out_of_order",
        `message ${seq}: announced receive key #${h.announce.index}, expected #${s.peerKey.index + 1} (replayed or reordered)`,
      );

    // Work out the key without touching the state: a message that fails changes nothing.
    let made: { root: Uint8Array; chain: ChainState } | undefined;
    if (h.step && mine) {
      let agreement: Uint8Array;
      try {
        agreement = mine.agree
          ? mine.agree(h.step.ratchetKey)
          : cryptoBackend().x25519(mine.secretKey, h.step.ratchetKey);
      } catch {
        this.steps.take(nowMs);
        return refuse("malformed", `message ${seq}: the step's ratchet key is a low-order point`);
      }
      const next = stepKeys(r.root, agreement);
      agreement.fill(0);
      made = { root: next.root, chain: newChain(next.chainKey) };
    }
    const chain = made?.chain ?? r.chain;
    const n = made ? 0 : r.n;
    const step = nextKey(chain, n);
    let plaintext: Uint8Array;
    try {
      this.aad.set(ciphertext.subarray(0, length));
      plaintext = cryptoBackend().open(
        step.key,
        seqNonce(seq),
        this.aadAfter(length),
        ciphertext.subarray(length),
      );
    } catch {
      dropStep(step);
      if (made) eraseChain(made.chain);
      made?.root.fill(0);
      if (made) this.steps.take(nowMs);
      return refuse("authentication", `message ${seq} failed authentication; dropped`);
    }

    // Authenticated: what follows is the peer's own doing.
    const { maxKeyAgeMs, maxKeyMessages } = this.options.config;
    const startedAtMs = n === 0 ? h.sealedAtMs : r.startedAtMs;
    const problem =
      n >= maxKeyMessages
        ? fatal(
            "too_many_messages",
            `the peer sent more than ${maxKeyMessages} messages on one key: it does not rekey`,
          )
        : h.sealedAtMs - startedAtMs > maxKeyAgeMs
          ? fatal(
              "key_too_old",
              `the peer sealed message ${seq} with a key ${h.sealedAtMs - startedAtMs} ms old (limit ${maxKeyAgeMs}): it does not rekey`,
            )
          : h.announce && isLowOrderX25519(h.announce.publicKey)
            ? fatal("bad_key", `the peer announced a low-order receive key in message ${seq}`)
            : undefined;
    if (problem) {
      plaintext.fill(0);
      dropStep(step);
      if (made) eraseChain(made.chain);
      made?.root.fill(0);
      return problem;
    }

    advance(chain, step);
    if (made && h.step) {
      // Answering our newest key, or after a long chain, costs nothing; other steps spend a token.
      if (!(h.step.peerKeyIndex > r.myKeyIndex || r.n >= MIN_STEP_MESSAGES)) this.steps.take(nowMs);
      r.root.fill(0);
      eraseChain(r.chain);
      s.receive = {
        root: made.root,
        chain,
        epoch: h.epoch,
        n: 1,
        startedAtMs: h.sealedAtMs,
        ratchetKey: h.step.ratchetKey,
        myKeyIndex: h.step.peerKeyIndex,
      };
      // Keys older than the one the peer now uses are never used again.
      while (s.myKeys[0]!.index < h.step.peerKeyIndex) s.myKeys.shift()!.secretKey.fill(0);
    } else {
      if (n === 0) r.startedAtMs = h.sealedAtMs;
      r.n++;
    }
    if (h.announce) s.peerKey = { index: h.announce.index, publicKey: h.announce.publicKey };
    return { kind: "message", plaintext };
  }

  state(): CipherState {
    return { version: 2, ratchet: copyState(this.s) };
  }

  erase(): void {
    const s = this.s;
    s.send.root.fill(0);
    eraseChain(s.send.chain);
    s.receive.root.fill(0);
    eraseChain(s.receive.chain);
    for (const key of s.myKeys) key.secretKey.fill(0);
  }

  /** The associated data once the header (of `length` bytes) is at its start: the chat id follows. */
  private aadAfter(length: number): Uint8Array {
    this.aad.set(this.chatIdBytes, length);
    return this.aad.subarray(0, length + this.chatIdBytes.length);
  }
}

function refuse(code: RatchetErrorCode, message: string): OpenVerdict {
  return { kind: "refused", error: new RatchetError(code, message) };
}

function fatal(code: RatchetErrorCode, message: string): OpenVerdict {
  return { kind: "fatal", error: new RatchetError(code, message) };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
