import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { requireBuild, runCli } from "./cli.js";

let dir: string;
beforeAll(async () => {
  requireBuild();
  dir = await mkdtemp(join(tmpdir(), "hermes-it-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("hermes as a real process", () => {
  it("demo: a node process and two apps chat with nothing lost, reordered or unacked", async () => {
    const { code, stdout, stderr } = await runCli(["demo", "--nodes", "1", "--messages", "300", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result).toMatchObject({
      ok: true,
      nodes: 1,
      messagesSent: 600,
      messagesDelivered: 600,
      messagesAcked: 600,
      inOrder: true,
      lost: 0,
      duplicates: 0,
      chatDeleted: true,
      nodeExitCode: 0,
    });
    expect(result.elapsedMs).toBeGreaterThan(0);
  });

  it("demo without --json prints a readable transcript", async () => {
    const { code, stdout } = await runCli(["demo", "--messages", "20"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/chat [0-9a-f]{32} ready/);
    expect(stdout).toMatch(/40\/40 delivered/);
    expect(stdout.trim().endsWith("OK")).toBe(true);
  });

  it("node: SIGTERM tells connected apps, flushes and exits 0", async () => {
    // A grace far beyond the 20 s the test gives: a node that waits for it is SIGKILLed (exit null).
    const node = await spawnNode({ env: { HERMES_TIMEOUTS_SHUTDOWN_GRACE_MS: "600000" } });
    const client = () =>
      new HermesClient({
        endpoint: node.appEndpoint,
        identity: Identity.generate(),
        reconnect: { initialDelayMs: 5000 },
      });
    const [app, peer] = [client(), client()];
    await Promise.all([app.connect(), peer.connect()]);
    peer.on("offer", (offer) => void offer.accept());
    const chat = await app.startChat(peer.appId);
    // Busy streams: frames wait on them when the node ends them, and the apps keep writing.
    const busy = setInterval(() => {
      for (let i = 0; i < 20; i++) chat.send("x".repeat(500)).catch(() => undefined);
    }, 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const told = new Promise<string>((resolve) => app.once("disconnected", resolve));
    expect(await node.stop(20_000)).toBe(0);
    clearInterval(busy);
    // The stream ended with its trailers (after SessionClosed), not reset before they were read.
    expect(await told).toBe("stream ended by the node");
    expect(node.logs.some((l) => l.msg === "node stopped")).toBe(true);
    await Promise.all([app.close(), peer.close()]);
  });

  it("node: an invalid config is refused with the key named, exit 2", async () => {
    const { code, stderr } = await runCli(["node", "--limits.maxFrameBytes=lots"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/limits\.maxFrameBytes/);
    const env = await runCli(["node"], { HERMES_TIMEOUTS_SESSION_IDLE_MS: "-1" });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/HERMES_TIMEOUTS_SESSION_IDLE_MS/);
  });

  it("keystore init makes a keystore the node then uses, and refuses to overwrite it", async () => {
    const path = join(dir, "ks.json");
    const env = { HERMES_KEYSTORE_PASSPHRASE: "correct horse battery staple" };
    const init = await runCli(
      ["keystore", "init", "--path", path, "--memory-kib", "1024", "--iterations", "1"],
      env,
    );
    expect(init.code).toBe(0);
    const { nodeId } = JSON.parse(init.stdout) as { nodeId: string };
    expect(nodeId).toMatch(/^[a-z2-7]{32}$/);
    const again = await runCli(["keystore", "init", "--path", path], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/exists/);

    const node = await spawnNode({ flags: [`--keystore.path=${path}`], env });
    expect(node.nodeId).toBe(nodeId);
    expect(await node.stop()).toBe(0);

    const wrong = await runCli(
      ["node", `--keystore.path=${path}`, "--listen.app=127.0.0.1:0", "--listen.admin=127.0.0.1:0"],
      {
        HERMES_KEYSTORE_PASSPHRASE: "wrong",
      },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/passphrase/i);
  });

  it("node: a corrupted keystore is refused with a clear error and left untouched", async () => {
    const path = join(dir, "corrupt.json");
    const env = { HERMES_KEYSTORE_PASSPHRASE: "pw" };
    expect(
      (await runCli(["keystore", "init", "--path", path, "--memory-kib", "1024", "--iterations", "1"], env))
        .code,
    ).toBe(0);
    const original = await readFile(path, "utf8");
    const parsed = JSON.parse(original) as { mac: string };
    parsed.mac = (parsed.mac.startsWith("A") ? "B" : "A") + parsed.mac.slice(1);
    const corrupted = JSON.stringify(parsed);
    await writeFile(path, corrupted);
    const run = await runCli(
      ["node", `--keystore.path=${path}`, "--listen.app=127.0.0.1:0", "--listen.admin=127.0.0.1:0"],
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/corrupt|tamper/i);
    expect(await readFile(path, "utf8")).toBe(corrupted);
  });
});
