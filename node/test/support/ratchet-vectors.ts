import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { cryptoBackend } from "../../src/crypto/index.js";
import { Identity, signingPayload } from "../../src/identity/index.js";
import { acceptFields, offerFields, readyOf, signAccept, signOffer } from "../../src/protocol/index.js";
import { handshakeSecret, type Transcript, transcriptSalt, withRatchetBit } from "../../src/sdk/e2e.js";
import { chainBlock, KEYS_PER_BLOCK } from "../../src/sdk/ratchet/chain.js";
import { resolveE2eConfig } from "../../src/sdk/ratchet/config.js";
import { readHeader } from "../../src/sdk/ratchet/header.js";
import { Ratchet } from "../../src/sdk/ratchet/ratchet.js";
import { initialState, type KeyPair, stepKeys } from "../../src/sdk/ratchet/state.js";

/**
 * Builds docs/vectors/chat-ratchet.json with the SDK from fixed inputs: the identities, chat id
 * and ephemeral secrets of docs/vectors/chat-transcript.json (the ephemeral keys with the
 * ratchet bit set), fixed X25519 secrets for every key pair the ratchets draw, and a short
 * conversation. The values between (agreements, roots, chain and message keys) come from the
 * ratchet's own pure functions along the way.
 */

const fill = (byte: number) => hex(new Uint8Array(32).fill(byte));
export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));

export const RATCHET_VECTOR_INPUTS = {
  initiatorSecretKey: fill(0x01),
  targetSecretKey: fill(0x02),
  chatId: "00112233445566778899aabbccddeeff",
  initiatorEphemeralSecretKey: fill(0x03),
  targetEphemeralSecretKey: fill(0x04),
  offerTimestampMs: 1700000001000,
  acceptTimestampMs: 1700000002000,
  /** The X25519 secrets each app's ratchet draws, in order (a step's ratchet key before an announced key). */
  initiatorKeyPairs: [fill(0x10), fill(0x11), fill(0x12)],
  targetKeyPairs: [fill(0x20), fill(0x21)],
  messages: [
    { from: "initiator", seq: 1, sealedAtMs: 1700000010000, plaintext: "hello, hermes" },
    { from: "initiator", seq: 2, sealedAtMs: 1700000011000, plaintext: "are you there?" },
    { from: "target", seq: 1, sealedAtMs: 1700000012000, plaintext: "here, with a new key" },
    { from: "initiator", seq: 3, sealedAtMs: 1700000013000, plaintext: "and mine" },
  ],
} as const;

type Role = "initiator" | "target";

interface VectorStep {
  ratchetSecretKey: string;
  ratchetKey: string;
  peerKeyIndex: number;
  peerKey: string;
  agreement: string;
  root: string;
  chainKey: string;
}

export function buildRatchetVectors() {
  const v = RATCHET_VECTOR_INPUTS;
  const initiator = Identity.fromSecretKey(bytes(v.initiatorSecretKey));
  const target = Identity.fromSecretKey(bytes(v.targetSecretKey));
  const publicOf = (secret: string) => x25519.getPublicKey(bytes(secret));
  const initiatorEphemeralKey = withRatchetBit(publicOf(v.initiatorEphemeralSecretKey));
  const targetEphemeralKey = withRatchetBit(publicOf(v.targetEphemeralSecretKey));
  const start = signOffer(initiator, {
    chatId: v.chatId,
    targetAppId: target.id,
    ephemeralKey: initiatorEphemeralKey,
    timestampMs: v.offerTimestampMs,
  });
  const offer = { ...start, initiatorAppId: initiator.id, initiatorPublicKey: initiator.publicKey };
  const accept = signAccept(target, offer, targetEphemeralKey, v.acceptTimestampMs);
  const ready = readyOf(offer, target.publicKey, accept);
  const transcript: Transcript = ready;

  const agreement = handshakeSecret(transcript, "initiator", bytes(v.initiatorEphemeralSecretKey));
  const salt = transcriptSalt(transcript);
  const initial = (info: string) => {
    const okm = hkdf(sha256, agreement, salt, new TextEncoder().encode(info), 64);
    return { root: hex(okm.subarray(0, 32)), chainKey: hex(okm.subarray(32)) };
  };
  const initiatorToTarget = initial("hermes/ratchet-init/v2 initiator->target");
  const block = chainBlock(bytes(initiatorToTarget.chainKey));
  const second = chainBlock(block.next);

  const config = resolveE2eConfig();
  const keyPairs = (secrets: readonly string[]) => {
    const queue = [...secrets];
    return (): KeyPair => {
      const secret = queue.shift();
      if (!secret) throw new Error("the vectors ran out of key pairs");
      return { secretKey: bytes(secret), publicKey: publicOf(secret) };
    };
  };
  const ratchets: Record<Role, Ratchet> = {
    initiator: new Ratchet(initialState(transcript, "initiator", bytes(v.initiatorEphemeralSecretKey)), {
      chatId: v.chatId,
      config,
      nowMs: 0,
      newKeyPair: keyPairs(v.initiatorKeyPairs),
    }),
    target: new Ratchet(initialState(transcript, "target", bytes(v.targetEphemeralSecretKey)), {
      chatId: v.chatId,
      config,
      nowMs: 0,
      newKeyPair: keyPairs(v.targetKeyPairs),
    }),
  };
  const used = { initiator: 0, target: 0 };
  const secretsOf = { initiator: v.initiatorKeyPairs, target: v.targetKeyPairs };

  const messages = v.messages.map((m) => {
    const from: Role = m.from;
    const before = stateOf(ratchets[from]);
    const ciphertext = ratchets[from].seal(m.seq, new TextEncoder().encode(m.plaintext), m.sealedAtMs);
    const read = readHeader(ciphertext);
    if ("malformed" in read) throw new Error(read.malformed);
    const { header, length } = read;
    let chainKey = before.send.chain.key;
    let step: VectorStep | undefined;
    if (header.step) {
      const secret = secretsOf[from][used[from]++]!;
      const peerKey = before.peerKey.publicKey;
      const dh = cryptoBackend().x25519(bytes(secret), peerKey);
      const next = stepKeys(before.send.root, dh);
      chainKey = next.chainKey;
      step = {
        ratchetSecretKey: secret,
        ratchetKey: hex(header.step.ratchetKey),
        peerKeyIndex: header.step.peerKeyIndex,
        peerKey: hex(peerKey),
        agreement: hex(dh),
        root: hex(next.root),
        chainKey: hex(next.chainKey),
      };
    }
    const n = header.n;
    const slot = n % KEYS_PER_BLOCK;
    const keys = slot === 0 ? chainBlock(chainKey).keys : before.send.chain.block;
    const messageKey = hex(keys.subarray(slot * 32, slot * 32 + 32));
    let announce: { index: number; secretKey: string; publicKey: string } | undefined;
    if (header.announce) {
      const secret = secretsOf[from][used[from]++]!;
      announce = {
        index: header.announce.index,
        secretKey: secret,
        publicKey: hex(header.announce.publicKey),
      };
    }
    // The receiver opens it, as a check that the vectors are a conversation that works.
    const to: Role = from === "initiator" ? "target" : "initiator";
    const opened = ratchets[to].open(m.seq, ciphertext, m.sealedAtMs);
    if (opened.kind !== "message")
      throw new Error(`message ${m.seq} from ${from} did not open: ${opened.kind}`);
    return {
      ...m,
      header: hex(ciphertext.subarray(0, length)),
      epoch: header.epoch,
      n,
      ...(step ? { step } : {}),
      ...(announce ? { announce } : {}),
      messageKey,
      nonce: hex(nonceOf(m.seq)),
      associatedData: hex(
        new Uint8Array([...ciphertext.subarray(0, length), ...new TextEncoder().encode(v.chatId)]),
      ),
      ciphertext: hex(ciphertext),
    };
  });

  return {
    inputs: v,
    transcript: {
      initiatorEphemeralKey: hex(initiatorEphemeralKey),
      targetEphemeralKey: hex(targetEphemeralKey),
      offer: {
        payload: hex(signingPayload("hermes/chat-offer/v1", offerFields(offer))),
        signature: hex(offer.signature),
      },
      accept: {
        payload: hex(
          signingPayload(
            "hermes/chat-accept/v1",
            acceptFields(offer, targetEphemeralKey, v.acceptTimestampMs),
          ),
        ),
        signature: hex(accept.signature),
      },
    },
    handshake: {
      agreement: hex(agreement),
      salt: hex(salt),
      initiatorToTarget,
      targetToInitiator: initial("hermes/ratchet-init/v2 target->initiator"),
    },
    chain: {
      chainKey: initiatorToTarget.chainKey,
      nextChainKey: hex(block.next),
      messageKeys: Array.from({ length: KEYS_PER_BLOCK }, (_, k) =>
        hex(block.keys.subarray(k * 32, k * 32 + 32)),
      ),
      secondBlock: { nextChainKey: hex(second.next), firstMessageKey: hex(second.keys.subarray(0, 32)) },
    },
    messages,
  };
}

function stateOf(ratchet: Ratchet) {
  const state = ratchet.state();
  if (state.version !== 2) throw new Error("not a ratchet");
  return state.ratchet;
}

function nonceOf(seq: number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(seq));
  return nonce;
}
