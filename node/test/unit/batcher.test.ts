import { describe, expect, it } from "vitest";
import { Batcher } from "../../src/utils/batcher.js";

/** Frames as strings: "m:<bytes>" may be batched, anything else goes alone. */
function batcher(maxBytes = 100) {
  const written: string[] = [];
  const turns: (() => void)[] = [];
  const b = new Batcher<string>({
    write: (frame) => written.push(frame),
    batchable: (frame) => (frame.startsWith("m:") ? Number(frame.slice(2)) : undefined),
    combine: (frames) => `[${frames.join(",")}]`,
    maxBytes: () => maxBytes,
    defer: (flush) => turns.push(flush),
  });
  const endTurn = () => {
    for (const flush of turns.splice(0)) flush();
  };
  return { b, written, endTurn };
}

describe("Batcher", () => {
  it("sends what was ready in one turn as one frame, and a lone frame as it is", () => {
    const { b, written, endTurn } = batcher();
    b.send("m:10");
    b.send("m:20");
    b.send("m:30");
    expect(written).toEqual([]);
    endTurn();
    expect(written).toEqual(["[m:10,m:20,m:30]"]);
    b.send("m:5");
    endTurn();
    expect(written.at(-1)).toBe("m:5");
  });

  it("keeps the order: a frame that cannot be batched goes after what waits", () => {
    const { b, written, endTurn } = batcher();
    b.send("m:10");
    b.send("m:10");
    b.send("error");
    b.send("m:10");
    endTurn();
    expect(written).toEqual(["[m:10,m:10]", "error", "m:10"]);
  });

  it("starts a new batch before one would grow past maxBytes", () => {
    const { b, written, endTurn } = batcher(100);
    for (let i = 0; i < 5; i++) b.send("m:40");
    endTurn();
    expect(written).toEqual(["[m:40,m:40]", "[m:40,m:40]", "m:40"]);
  });

  it("drops what waits when the stream is gone", () => {
    const { b, written, endTurn } = batcher();
    b.send("m:10");
    b.drop();
    endTurn();
    expect(written).toEqual([]);
  });
});
