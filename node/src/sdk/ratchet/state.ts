import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { handshakeSecret, type Transcript, transcriptSalt } from "../e2e.js";
import { type ChainState, newChain } from "./chain.js";
import type { KeyRef } from "./header.js";

/**
 * What the ratchet of one chat holds (ratchet.ts runs it), its first value from the handshake,
 * and the root KDF of a step. Plain data, so that a store can keep it (store/chat-state.ts).
 */

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** The backend's fast agreement with this secret (X25519KeyPair.agree); absent once restored from a store. */
  agree?: (peerPublicKey: Uint8Array) => Uint8Array;
}

export interface SendingChain {
  root: Uint8Array;
  chain: ChainState;
  epoch: number;
  /** The next message's number in the chain. */
  n: number;
  /** When the chain's first message was sealed (set once n > 0). */
  startedAtMs: number;
  /** The peer's receive key the chain was made against. */
  peerKeyIndex: number;
}

export interface ReceivingChain {
  root: Uint8Array;
  chain: ChainState;
  epoch: number;
  /** The next message's number in the chain. */
  n: number;
  /** The peer's seal time of the chain's first message (set once n > 0). */
  startedAtMs: number;
  /** The peer's key that made the chain: its ratchet key, or its ephemeral key for epoch 0. */
  ratchetKey: Uint8Array;
  /** This app's receive key the chain was made against. */
  myKeyIndex: number;
}

export interface RatchetState {
  send: SendingChain;
  receive: ReceivingChain;
  /**
   * This app's receive keys still needed, oldest first: the one the peer's newest chain was made
   * against, and the one announced after it, if any. Older ones are zeroed.
   */
  myKeys: (KeyPair & { index: number })[];
  /** The peer's newest announced receive key. */
  peerKey: KeyRef;
}

const encoder = new TextEncoder();
const INIT_I2T = encoder.encode("hermes/ratchet-init/v2 initiator->target");
const INIT_T2I = encoder.encode("hermes/ratchet-init/v2 target->initiator");
const STEP_INFO = encoder.encode("hermes/ratchet-step/v2");

/**
 * The first state of both directions, from the handshake: HKDF-SHA256 of the X25519 agreement,
 * salted with the transcript hash (as e2e v1), gives each direction a root key and its epoch-0
 * chain key. Each app's ephemeral key pair is its receive key #0, and is kept (copied) for that,
 * with the backend's `agree` of that pair if there is one.
 */
export function initialState(
  t: Transcript,
  role: "initiator" | "target",
  mySecret: Uint8Array,
  agree?: KeyPair["agree"],
): RatchetState {
  const shared = handshakeSecret(t, role, mySecret);
  const salt = transcriptSalt(t);
  const i2t = hkdf(sha256, shared, salt, INIT_I2T, 64);
  const t2i = hkdf(sha256, shared, salt, INIT_T2I, 64);
  shared.fill(0);
  const [mine, theirs] = role === "initiator" ? [i2t, t2i] : [t2i, i2t];
  const [myEphemeral, peerEphemeral] =
    role === "initiator"
      ? [t.initiatorEphemeralKey, t.targetEphemeralKey]
      : [t.targetEphemeralKey, t.initiatorEphemeralKey];
  return {
    send: {
      root: mine.slice(0, 32),
      chain: newChain(mine.slice(32)),
      epoch: 0,
      n: 0,
      startedAtMs: 0,
      peerKeyIndex: 0,
    },
    receive: {
      root: theirs.slice(0, 32),
      chain: newChain(theirs.slice(32)),
      epoch: 0,
      n: 0,
      startedAtMs: 0,
      ratchetKey: Uint8Array.from(peerEphemeral),
      myKeyIndex: 0,
    },
    myKeys: [
      {
        index: 0,
        secretKey: Uint8Array.from(mySecret),
        publicKey: Uint8Array.from(myEphemeral),
        ...(agree ? { agree } : {}),
      },
    ],
    peerKey: { index: 0, publicKey: Uint8Array.from(peerEphemeral) },
  };
}

/** KDF_RK: HKDF-SHA256 with the root key as salt and the agreement as input: the next root key and a chain key. */
export function stepKeys(
  root: Uint8Array,
  agreement: Uint8Array,
): { root: Uint8Array; chainKey: Uint8Array } {
  const out = hkdf(sha256, agreement, root, STEP_INFO, 64);
  return { root: out.subarray(0, 32), chainKey: out.subarray(32) };
}

function copyChain(c: ChainState): ChainState {
  return { key: Uint8Array.from(c.key), block: Uint8Array.from(c.block) };
}

export function copyState(s: RatchetState): RatchetState {
  return {
    send: { ...s.send, root: Uint8Array.from(s.send.root), chain: copyChain(s.send.chain) },
    receive: {
      ...s.receive,
      root: Uint8Array.from(s.receive.root),
      chain: copyChain(s.receive.chain),
      ratchetKey: Uint8Array.from(s.receive.ratchetKey),
    },
    myKeys: s.myKeys.map((k) => ({
      index: k.index,
      secretKey: Uint8Array.from(k.secretKey),
      publicKey: Uint8Array.from(k.publicKey),
    })),
    peerKey: { index: s.peerKey.index, publicKey: Uint8Array.from(s.peerKey.publicKey) },
  };
}
