import { describe, expect, it } from "vitest";
import { directionFrom } from "../../src/router/chat.js";
import { decodeChatRecord } from "../../src/router/chat-record.js";
import { createLogger } from "../../src/telemetry/index.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { newChatId } from "../support/frames.js";
import { MemoryKeyBackend } from "../support/key-backend.js";
import { ChatEndReason, ErrorCode, type Harness, newRouter, readyChat } from "../support/router.js";

/** A node that ran a chat between a and b, flushed its keystore and stopped. */
async function previousRun() {
  const h = newRouter();
  const a = h.app();
  const b = h.app();
  a.connect();
  b.connect();
  const { chatId, ready } = readyChat(a, b);
  for (const seq of [1, 2, 3]) a.message(chatId, seq);
  b.ack(chatId, 2);
  b.message(chatId, 1);
  a.ack(chatId, 1);
  await h.store.flush();
  return { h, a, b, chatId, ready };
}

/** A new router (same node identity) over what the previous one had flushed. */
function restart(prev: Harness, logger = createLogger({ level: "silent" })): Harness {
  return newRouter({
    backend: prev.backend.reopen(),
    identity: prev.identity,
    clock: new FakeClock(prev.clock.now() + 1000),
    logger,
  });
}

describe("Router: persistence", () => {
  it("saves ready chats (not pending offers) with their acked marks", async () => {
    const { h, a, b, chatId } = await previousRun();
    a.startChat(b); // pending: not persisted
    await h.store.flush();
    expect(h.backend.persistedNames("chat/")).toEqual([`chat/${chatId}`]);
    const record = decodeChatRecord(h.backend.persisted.get(`chat/${chatId}`)!);
    expect(directionFrom(record, a.id).acked).toBe(2);
    expect(directionFrom(record, b.id).acked).toBe(1);
  });

  it("writes nothing on the message path; the next flush does", async () => {
    const { h, a, b, chatId } = await previousRun();
    const flushes = h.backend.flushes;
    a.message(chatId, 4);
    b.ack(chatId, 4);
    expect(h.backend.flushes).toBe(flushes);
    expect(h.backend.dirty).toBe(false); // not even the in-memory entry changed yet
    expect(h.store.pending).toBe(true);
    expect(directionFrom(decodeChatRecord(h.backend.get(`chat/${chatId}`)!), a.id).acked).toBe(2);
    await h.store.flush();
    expect(h.store.pending).toBe(false);
    expect(directionFrom(decodeChatRecord(h.backend.persisted.get(`chat/${chatId}`)!), a.id).acked).toBe(4);
  });

  it("restores chats after a restart and lets both apps resume where the acks left off", async () => {
    const prev = await previousRun();
    const h = restart(prev.h);
    expect(h.router.restore()).toBe(1);
    expect(h.router.stats().chats).toEqual({ pending: 0, ready: 1 });
    const a = h.app(prev.a.identity);
    const b = h.app(prev.b.identity);
    expect(a.connect().chats).toEqual([{ ready: prev.ready, ackedByPeer: 2, deliveredToMe: 1 }]);
    expect(b.connect().chats).toEqual([{ ready: prev.ready, ackedByPeer: 1, deliveredToMe: 2 }]);

    // a retransmits from its peer's ack: 1 and 2 are re-acked, 3 is delivered again.
    for (const seq of [1, 2, 3]) a.message(prev.chatId, seq);
    expect(a.sink.all("ack").map((x) => x.seq)).toEqual([2, 2]);
    expect(b.sink.all("delivery").map((d) => d.seq)).toEqual([3]);
    b.ack(prev.chatId, 3);
    expect(a.sink.last("ack")?.seq).toBe(3);
  });

  it("expires a restored chat by the activity time it was saved with", async () => {
    const prev = await previousRun();
    const h = restart(prev.h);
    h.router.restore();
    h.clock.advance(h.timeouts.chatIdleMs);
    h.router.sweep();
    expect(h.router.stats().chats.ready).toBe(0);
    await h.store.flush();
    expect(h.backend.persistedNames("chat/")).toEqual([]);
  });

  it("skips a corrupt record with a warning instead of failing", async () => {
    const prev = await previousRun();
    const backend = prev.h.backend.reopen();
    const junk = `chat/${newChatId()}`;
    const future = `chat/${newChatId()}`;
    backend.put(junk, new TextEncoder().encode("{not json"));
    backend.put(future, new TextEncoder().encode(JSON.stringify({ v: 99 })));
    await backend.flush();
    const lines: string[] = [];
    const logger = createLogger({
      level: "warn",
      destination: { write: (line: string) => lines.push(line) },
    });
    const h = newRouter({ backend: backend.reopen(), identity: prev.h.identity, logger });
    expect(h.router.restore()).toBe(1);
    const warnings = lines.map((l) => JSON.parse(l) as { level: string; entry: string; msg: string });
    expect(warnings.map((w) => [w.level, w.entry])).toEqual([
      ["warn", junk < future ? junk : future],
      ["warn", junk < future ? future : junk],
    ]);
    expect(warnings[0]?.msg).toMatch(/unreadable chat record/);
    // The good chat still works.
    const a = h.app(prev.a.identity);
    const b = h.app(prev.b.identity);
    a.connect();
    b.connect();
    a.message(prev.chatId, 3);
    expect(b.sink.one("delivery").seq).toBe(3);
  });

  it("erases a deleted chat from the keystore so a restart does not bring it back", async () => {
    const prev = await previousRun();
    prev.a.send({ $case: "deleteChat", value: { chatId: prev.chatId } });
    expect(prev.b.sink.last("chatDeleted")?.reason).toBe(ChatEndReason.CHAT_END_REASON_DELETED_BY_PEER);
    await prev.h.store.flush();
    const h = restart(prev.h);
    expect(h.router.restore()).toBe(0);
    const a = h.app(prev.a.identity);
    expect(a.connect().chats).toEqual([]);
    a.message(prev.chatId, 4);
    expect(a.error().code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CHAT);
  });

  it("restores nothing from an empty keystore", () => {
    const h = newRouter({ backend: new MemoryKeyBackend() });
    expect(h.router.restore()).toBe(0);
    expect(h.router.stats().chats).toEqual({ pending: 0, ready: 0 });
  });
});
