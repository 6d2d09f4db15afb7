import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/index.js";
import type { Chat } from "../../src/sdk/chat.js";
import { HermesClient } from "../../src/sdk/client.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { AppStreams, endpointOf } from "../support/app-streams.js";
import { FakeMesh, type MeshNode, settle } from "../support/mesh-link.js";

/** What the SDK writes when a window of messages is ready at once: a batch, if the node takes them. */
async function sendWindow(olderNode: boolean) {
  const mesh = new FakeMesh();
  const node = mesh.node() as MeshNode;
  const streams = new AppStreams().add(node);
  if (olderNode) streams.older(node);
  const clock = new FakeClock();
  const client = () =>
    new HermesClient({
      endpoint: endpointOf(node),
      identity: Identity.generate(),
      clock,
      open: streams.open,
    });
  const [a, b] = [client(), client()];
  const tick = async () => {
    for (let i = 0; i < 8; i++) await settle();
  };
  const connected = Promise.all([a.connect(), b.connect()]);
  await tick();
  await connected;
  b.on("offer", (offer) => void offer.accept());
  const theirs = new Promise<Chat>((resolve) => b.once("chat", resolve));
  const mine = a.startChat(b.appId);
  await tick();
  const [ab, ba] = [await mine, await theirs];
  const got: string[] = [];
  ba.on("message", (m) => got.push(m.text()));
  const from = streams.written.length;
  const sends = Array.from({ length: 20 }, (_, i) => ab.send(`m${i + 1}`));
  await tick();
  await Promise.all(sends);
  const written = streams.written.slice(from);
  await Promise.all([a.close(), b.close()]);
  return { got, written };
}

describe("SDK batches", () => {
  it("sends a window of messages as one MessageBatch to a node that takes batches", async () => {
    const { got, written } = await sendWindow(false);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
    const messageFrames = written.filter((f) => f.body?.$case === "message" || f.body?.$case === "batch");
    expect(messageFrames).toHaveLength(1);
    const batch = messageFrames[0]!.body;
    expect(batch?.$case === "batch" && batch.value.messages.map((m) => m.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it("sends them one by one to a node from before batches", async () => {
    const { got, written } = await sendWindow(true);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
    expect(written.some((f) => f.body?.$case === "batch")).toBe(false);
    expect(written.filter((f) => f.body?.$case === "message")).toHaveLength(20);
  });
});
