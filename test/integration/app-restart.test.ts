import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { type Chat, HermesClient, Identity } from "../../node/dist/index.js";
import { requireBuild } from "./cli.js";

/**
 * An app process that keeps its chats in a file store is killed (SIGKILL) and started again:
 * it resumes its chat, gets what its peer sent meanwhile once and in order, and the ratchet goes
 * on in both directions. A real node process, a real app process, a real file.
 */

const APP = fileURLToPath(new URL("./apps/store-app.mjs", import.meta.url));
const PASSPHRASE = "a store passphrase";
let dir: string;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  requireBuild();
  dir = await mkdtemp(join(tmpdir(), "hermes-it-restart-"));
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** The app process: its JSON lines as they come, and a way to wait for one. */
function startApp(endpoint: string, seed: string, path: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [APP, endpoint, seed, path], {
    env: { ...process.env, HERMES_CHAT_STORE_PASSPHRASE: PASSPHRASE },
  });
  cleanups.push(() => child.kill("SIGKILL"));
  const lines: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
    wake?.();
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return {
    lines,
    write: (command: unknown) => child.stdin.write(`${JSON.stringify(command)}\n`),
    async until(check: (lines: Record<string, unknown>[]) => boolean, what: string, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(lines)) {
        if (child.exitCode !== null)
          throw new Error(`the app exited (${child.exitCode}) waiting for ${what}: ${stderr}`);
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(lines)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
    kill: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
    received: () => lines.filter((l) => "got" in l).map((l) => l.got as string),
  };
}

describe("an app restarted with its chat store", () => {
  it("resumes its chat after kill -9: what its peer sent meanwhile arrives once, in order, and both go on", async () => {
    const node = await spawnNode();
    cleanups.push(() => node.stop());
    const peer = new HermesClient({
      endpoint: node.appEndpoint,
      identity: Identity.generate(),
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    cleanups.push(() => peer.close());
    const fromApp: string[] = [];
    let chat: Chat | undefined;
    peer.on(
      "offer",
      (offer) =>
        void offer.accept().then((c) => {
          chat = c;
          c.on("message", (m) => fromApp.push(m.text()));
        }),
    );
    await peer.connect();

    const seed = randomBytes(32).toString("hex");
    const path = join(dir, "chats.json");
    const first = startApp(node.appEndpoint, seed, path);
    await first.until((l) => l.some((x) => "ready" in x), "the app to connect");
    first.write({ start: peer.appId });
    await first.until((l) => l.some((x) => "chat" in x), "the chat");
    expect(first.lines.find((x) => "chat" in x)?.version).toBe(2);
    first.write({ send: Array.from({ length: 20 }, (_, i) => `a${i + 1}`) });
    await first.until((l) => l.some((x) => "sent" in x), "the app's messages to be acked");
    await Promise.all(Array.from({ length: 5 }, (_, i) => chat!.send(`b${i + 1}`)));
    await first.until((l) => l.filter((x) => "got" in x).length === 5, "the peer's messages");

    // Killed: what it had not written is gone. Its peer sends on meanwhile; the node keeps nothing.
    await first.kill();
    const meanwhile = Array.from({ length: 10 }, (_, i) => chat!.send(`c${i + 1}`));
    await new Promise((r) => setTimeout(r, 300));

    const second = startApp(node.appEndpoint, seed, path);
    await second.until((l) => l.some((x) => "ready" in x), "the restarted app to connect");
    expect(second.lines.find((x) => "ready" in x)?.restored).toEqual([chat!.id]);
    await Promise.all(meanwhile);
    await second.until((l) => l.filter((x) => "got" in x).length === 10, "the messages sent meanwhile");
    expect(second.received()).toEqual(Array.from({ length: 10 }, (_, i) => `c${i + 1}`));
    expect(second.lines.filter((x) => "got" in x).map((x) => x.seq)).toEqual(
      Array.from({ length: 10 }, (_, i) => 6 + i),
    );
    second.write({ send: Array.from({ length: 30 }, (_, i) => `d${i + 1}`) });
    await second.until((l) => l.some((x) => "sent" in x), "the restarted app's messages to be acked");
    await Promise.all([chat!.send("welcome back")]);
    await second.until((l) => l.some((x) => x.got === "welcome back"), "the turn after the restart");
    expect(fromApp).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `a${i + 1}`),
      ...Array.from({ length: 30 }, (_, i) => `d${i + 1}`),
    ]);
    expect([chat!.e2eVersion, chat!.ended]).toEqual([2, false]);
    expect(second.lines.filter((x) => "error" in x)).toEqual([]);
  });
});
