import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { approuter } from "@hermes/proto";
import { afterEach, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import { KeystoreError, MemoryKeyBackend } from "../../src/keystore/index.js";
import type { Chat } from "../../src/sdk/chat.js";
import type { HermesClient } from "../../src/sdk/client.js";
import { ChatStore } from "../../src/sdk/store/chat-store.js";
import { recordKeys } from "../support/key-recorder.js";
import { hex, keysOf } from "../support/ratchet.js";
import { chat, connected, received, type World, world } from "../support/sdk-world.js";

/**
 * The app-side chat store: a restarted app resumes its chats from it, nothing leaves the app
 * before the store has it, and the store never holds a key that was used.
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A MemoryKeyBackend whose flushes wait while `held`, and that keeps a copy of every flush. */
class GatedBackend extends MemoryKeyBackend {
  held = false;
  private release: (() => void) | undefined;
  readonly flushed: Map<string, Uint8Array>[] = [];
  onFlush: (() => void) | undefined;

  override async flush(): Promise<void> {
    if (this.held) await new Promise<void>((resolve) => (this.release = resolve));
    await super.flush();
    this.flushed.push(new Map([...this.persisted].map(([k, v]) => [k, Uint8Array.from(v)])));
    this.onFlush?.();
  }

  open(): void {
    this.held = false;
    this.release?.();
  }
}

/** The chat the client emits next (a new or a restored one), with its messages collected from the start. */
function nextChat(client: HermesClient): Promise<{ chat: Chat; texts: string[] }> {
  return new Promise((resolve) => client.once("chat", (c) => resolve({ chat: c, texts: received(c) })));
}

/** Message seqs the apps wrote for `chatId`, in order. */
function messageSeqs(w: World, chatId: string): number[] {
  return w.streams.written.flatMap((f) => {
    const body = f.body;
    const all =
      body?.$case === "message"
        ? [body.value]
        : body?.$case === "batch"
          ? body.value.messages
          : ([] as approuter.ChatMessage[]);
    return all.filter((m) => m.chatId === chatId).map((m) => m.seq);
  });
}

function ackSeqs(w: World, chatId: string): number[] {
  return w.streams.written.flatMap((f) => {
    const body = f.body;
    const all =
      body?.$case === "ack"
        ? [body.value]
        : body?.$case === "batch"
          ? body.value.acks
          : ([] as approuter.MessageAck[]);
    return all.filter((a) => a.chatId === chatId).map((a) => a.seq);
  });
}

describe("SDK chat store", () => {
  it("a restarted app resumes its chats: what was unacked goes once, nothing arrives twice, and the ratchet goes on", async () => {
    const w = world(1);
    const node = w.nodes[0]!;
    const [idA, idB] = [Identity.generate(), Identity.generate()];
    const [diskA, diskB] = [new MemoryKeyBackend(), new MemoryKeyBackend()];
    const a = w.client(node, { identity: idA, store: new ChatStore(diskA), e2e: { rekeyAfterMessages: 16 } });
    const b = w.client(node, { identity: idB, store: new ChatStore(diskB) });
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const [atA, atB] = [received(ab), received(ba)];
    const first = [
      ...Array.from({ length: 20 }, (_, i) => ab.send(`a${i + 1}`)),
      ...Array.from({ length: 5 }, (_, i) => ba.send(`b${i + 1}`)),
    ];
    await w.tick();
    await Promise.all(first);
    expect([atA.length, atB.length]).toEqual([5, 20]);

    // B stops; A goes on sending, and the node holds nothing for B: the messages stay in A.
    await b.close();
    const unacked = Array.from({ length: 5 }, (_, i) => ab.send(`a${i + 21}`).catch(() => undefined));
    await w.tick();
    expect(ab.unacked).toBe(5);
    // A crashes: the next run gets what A's store had written, no more.
    const crashed = diskA.reopen();
    await a.close();
    void unacked;

    const a2 = w.client(node, {
      identity: idA,
      store: new ChatStore(crashed),
      e2e: { rekeyAfterMessages: 16 },
    });
    const b2 = w.client(node, { identity: idB, store: new ChatStore(diskB.reopen()) });
    const [backA, backB] = [nextChat(a2), nextChat(b2)];
    await connected(w, a2, b2);
    const [{ chat: ab2, texts: atA2 }, { chat: ba2, texts: atB2 }] = await Promise.all([backA, backB]);
    expect([ab2.id, ba2.id]).toEqual([ab.id, ab.id]);
    await w.until(() => atB2.length === 5);
    expect(atB2).toEqual(["a21", "a22", "a23", "a24", "a25"]);
    expect(ab2.unacked).toBe(0);

    const more = [...Array.from({ length: 20 }, (_, i) => ab2.send(`c${i}`)), ba2.send("welcome back")];
    await w.until(() => ab2.unacked + ba2.unacked === 0);
    await Promise.all(more);
    expect(atA2).toEqual(["welcome back"]);
    expect(atB2).toHaveLength(25);
    expect([ab2.e2eVersion, ba2.e2eVersion]).toEqual([2, 2]);
  });

  it("nothing sealed leaves and nothing received is acknowledged before the store has it", async () => {
    const w = world(1);
    const [diskA, diskB] = [new GatedBackend(), new GatedBackend()];
    const a = w.client(w.nodes[0]!, { store: new ChatStore(diskA) });
    const b = w.client(w.nodes[0]!, { store: new ChatStore(diskB) });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const atB = received(ba);

    diskA.held = true;
    const sent = ab.send("after the save");
    await w.tick(100);
    expect(messageSeqs(w, ab.id)).toEqual([]);
    diskB.held = true;
    diskA.open();
    await w.tick(100);
    expect(messageSeqs(w, ab.id)).toEqual([1]);
    expect(atB).toEqual(["after the save"]); // handed to the app...
    expect(ackSeqs(w, ab.id)).toEqual([]); // ...and acknowledged only once B's store has it
    diskB.open();
    await w.tick(100);
    expect(ackSeqs(w, ab.id)).toEqual([1]);
    await sent;
  });

  it("never writes a key that was used: message keys, agreements, old roots and chains", async () => {
    const w = world(1);
    const disk = new GatedBackend();
    const used = recordKeys();
    cleanups.push(used.stop);
    // Every flush is checked against every key used before it.
    const problems: string[] = [];
    disk.onFlush = () => {
      const before = [...used.sealed, ...used.opened, ...used.agreed].map((k) => Buffer.from(k));
      for (const value of disk.flushed.at(-1)!.values()) {
        const bytes = Buffer.from(value);
        for (const key of before) if (bytes.includes(key)) problems.push(hex(key));
      }
    };
    const a = w.client(w.nodes[0]!, { store: new ChatStore(disk), e2e: { rekeyAfterMessages: 16 } });
    const b = w.client(w.nodes[0]!);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await connected(w, a, b);
    const [ab, ba] = await chat(w, a, b);
    const states: Uint8Array[][] = [];
    for (let round = 0; round < 4; round++) {
      states.push(keysOf(ab.snapshot().cipher));
      await Promise.all([...Array.from({ length: 20 }, (_, i) => ab.send(`a${i}`)), ba.send("b"), w.tick()]);
    }
    expect(disk.flushed.length).toBeGreaterThan(4);
    expect(problems).toEqual([]);
    // Nor the roots, chain keys and receive secrets of earlier states.
    const last = Buffer.from(disk.flushed.at(-1)!.get(`chat/${ab.id}`)!);
    const old = states.flat().filter((k) => !keysOf(ab.snapshot().cipher).some((now) => hex(now) === hex(k)));
    expect(old.length).toBeGreaterThan(10);
    expect(old.filter((k) => last.includes(Buffer.from(k))).map(hex)).toEqual([]);
  });

  it("erases a chat that ended from the store", async () => {
    const w = world(1);
    const disk = new MemoryKeyBackend();
    const a = w.client(w.nodes[0]!, { store: new ChatStore(disk) });
    const b = w.client(w.nodes[0]!);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await connected(w, a, b);
    const [ab] = await chat(w, a, b);
    await w.tick();
    expect(disk.persistedNames("chat/")).toEqual([`chat/${ab.id}`]);
    ab.delete();
    await w.until(() => ab.ended);
    await w.tick();
    expect(disk.persistedNames("chat/")).toEqual([]);
  });

  it("leaves alone, and reports, a chat the store holds for another app", async () => {
    const w = world(1);
    const disk = new MemoryKeyBackend();
    const a = w.client(w.nodes[0]!, { store: new ChatStore(disk) });
    const b = w.client(w.nodes[0]!);
    await connected(w, a, b);
    await chat(w, a, b);
    await a.close();
    await b.close();
    const stranger = w.client(w.nodes[0]!, { store: new ChatStore(disk.reopen()) });
    cleanups.push(() => stranger.close());
    const errors: Error[] = [];
    stranger.on("error", (e) => errors.push(e));
    await connected(w, stranger);
    expect(stranger.chats()).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/holds chat \w+ of app \w+, not of \w+; left as it is/),
    ]);
  });
});

describe("ChatStore in memory", () => {
  it("zeroes a chat's state once a newer one replaces it", async () => {
    const memory = new MemoryKeyBackend();
    memory.put("chat/x", Uint8Array.of(1, 2, 3));
    await memory.flush();
    const kept = memory.persisted.get("chat/x")!;
    memory.put("chat/x", Uint8Array.of(4, 5, 6));
    await memory.flush();
    expect([...kept]).toEqual([0, 0, 0]);
    expect([...memory.get("chat/x")!]).toEqual([4, 5, 6]);
  });
});

describe("ChatStore in a file", () => {
  const kdf = { memoryKiB: 256, iterations: 1, parallelism: 1 };

  it("is created on first open, sealed at rest, and opened again only with its passphrase", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hermes-chat-store-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "chats.json");
    const w = world(1);
    const a = w.client(w.nodes[0]!, { store: await ChatStore.open(path, "correct horse", { kdf }) });
    const b = w.client(w.nodes[0]!);
    await connected(w, a, b);
    const [ab] = await chat(w, a, b);
    await Promise.all([ab.send("kept"), w.tick()]);
    const held = keysOf(ab.snapshot().cipher);
    await a.close();
    await b.close();

    const file = await readFile(path);
    for (const key of held) expect(file.includes(Buffer.from(key))).toBe(false);
    expect(file.includes(Buffer.from(ab.id))).toBe(true); // entry names are in clear; their values are not
    await expect(ChatStore.open(path, "wrong horse")).rejects.toMatchObject({
      constructor: KeystoreError,
      code: "wrong_passphrase",
    });
    const again = await ChatStore.open(path, "correct horse");
    const { chats, problems } = again.load();
    await again.close();
    expect(problems).toEqual([]);
    expect(chats.map((c) => [c.ready.chatId, c.nextSeq, c.cipher.version])).toEqual([[ab.id, 2, 2]]);
  });
});
