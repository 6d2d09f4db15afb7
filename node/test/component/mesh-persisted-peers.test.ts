import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/index.js";
import { Identity } from "../../src/identity/index.js";
import { UNANSWERED_FORGET_MS } from "../../src/mesh/discovery/persisted-peers.js";
import { type MeshRuntime, startMesh } from "../../src/mesh/start.js";
import { createLogger, Metrics } from "../../src/telemetry/index.js";
import { countOpenFds, DescriptorBudget } from "../../src/transport/descriptors.js";
import { FakeClock } from "../../src/utils/fake-clock.js";
import { freePort } from "./harness.js";

/**
 * A real mesh server whose join attempts go over real sockets to a remembered address where
 * nothing listens, with time on a fake clock: ten minutes of discovery rounds pass in seconds.
 */

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

/** A graceful stop waits on mesh timers: let fake time run until it is done. */
async function stopOnFakeTime(mesh: MeshRuntime, clock: FakeClock): Promise<void> {
  let stopped = false;
  const stopping = mesh.stop().finally(() => {
    stopped = true;
  });
  for (let i = 0; i < 1000 && !stopped; i++) {
    clock.advance(100);
    await tick();
  }
  await stopping;
}

async function remembered(dir: string): Promise<string[]> {
  const file = JSON.parse(await readFile(join(dir, "peers.json"), "utf8")) as {
    peers: { address: string }[];
  };
  return file.peers.map((p) => p.address);
}

describe("remembered peers that never answer", () => {
  it("are dialled for UNANSWERED_FORGET_MS, then forgotten, logged and saved without", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hermes-peers-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // As one Join from anyone leaves it: an address no node answers on, seen a moment ago.
    const nowhere = `127.0.0.1:${await freePort()}`;
    const clock = new FakeClock(Date.now());
    await writeFile(
      join(dir, "peers.json"),
      JSON.stringify({
        version: 1,
        peers: [{ nodeId: "n".repeat(32), address: nowhere, lastSeenMs: clock.now() }],
      }),
    );
    const lines: { msg: string; address?: string }[] = [];
    const mesh: MeshRuntime | undefined = await startMesh({
      config: { ...defaultConfig().mesh, listen: "127.0.0.1:0", advertise: "127.0.0.1:0", insecure: true },
      dataDir: dir,
      clockSkewMs: 30_000,
      identity: Identity.generate(),
      clock,
      appEndpoint: "127.0.0.1:1",
      descriptors: new DescriptorBudget({ clock, countOpen: countOpenFds }, { limit: undefined, reserve: 0 }),
      metrics: new Metrics(),
      logger: createLogger({
        level: "info",
        destination: { write: (l: string) => lines.push(JSON.parse(l)) },
      }),
      version: "test",
    });
    if (!mesh) throw new Error("the mesh did not start");
    cleanups.push(() => stopOnFakeTime(mesh, clock));
    const attempts: [string, boolean][] = [];
    mesh.mesh.on("joinAttempted", (address, answered) => attempts.push([address, answered]));
    const forgotten = () => lines.filter((l) => l.msg.startsWith("remembered peer forgotten"));

    // Discovery rounds every ~10 s, each join given syncTimeoutMs: step through them.
    const stepMs = 2500;
    for (let waited = 0; waited < UNANSWERED_FORGET_MS - 30_000; waited += stepMs) {
      clock.advance(stepMs);
      await tick();
    }
    expect(forgotten()).toEqual([]);
    expect(attempts.length).toBeGreaterThan(10);
    expect(attempts.every(([address, answered]) => address === nowhere && !answered)).toBe(true);

    for (let waited = 0; forgotten().length === 0 && waited < 5 * 60_000; waited += stepMs) {
      clock.advance(stepMs);
      await tick();
    }
    expect(forgotten()).toMatchObject([{ address: nowhere }]);
    // No more dialling it, by discovery or by a lone node's push-pull to its seeds, and the file
    // says so (written after its debounce).
    const dialled = attempts.length;
    for (let waited = 0; waited < 60_000; waited += stepMs) {
      clock.advance(stepMs);
      await tick();
    }
    expect(attempts.length).toBe(dialled);
    expect(await remembered(dir)).toEqual([]);
  });
});
