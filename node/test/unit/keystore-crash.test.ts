import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileKeyBackend } from "../../src/keystore/index.js";

// Fault injection: the keystore's own rename goes through this hook.
const hook = vi.hoisted(() => ({
  rename: undefined as undefined | ((from: string, to: string) => Promise<void>),
  events: [] as string[],
}));
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const rename = async (from: string, to: string) => {
    hook.events.push("rename-start");
    await (hook.rename ? hook.rename(from, to) : real.rename(from, to));
    hook.events.push("rename-end");
  };
  return { ...real, default: { ...real, rename }, rename };
});

const LOW = { memoryKiB: 256, iterations: 1, parallelism: 1 };
const PASS = new TextEncoder().encode("pw");
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hermes-keystore-crash-"));
  path = join(dir, "keystore.json");
  hook.rename = undefined;
  hook.events = [];
});
afterEach(async () => {
  hook.rename = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe("FileKeyBackend under write failures", () => {
  it("a failed rename keeps the old file valid and the backend dirty", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    ks.put("a", bytes("old"));
    await ks.flush();
    const before = await readFile(path);

    ks.put("a", bytes("new"));
    hook.rename = async () => {
      throw Object.assign(new Error("injected: disk full"), { code: "ENOSPC" });
    };
    await expect(ks.flush()).rejects.toMatchObject({ code: "io", message: expect.stringContaining(path) });
    expect(ks.dirty).toBe(true);
    expect((await readFile(path)).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(["keystore.json"]); // the temp file was cleaned up

    const old = await FileKeyBackend.open(path, PASS);
    expect(text(old.get("a"))).toBe("old");
    await old.close();

    // close() does not lose data when its flush fails: the backend stays open for a retry.
    await expect(ks.close()).rejects.toMatchObject({ code: "io" });
    expect(text(ks.get("a"))).toBe("new");
    hook.rename = undefined;
    await ks.close();
    const now = await FileKeyBackend.open(path, PASS);
    expect(text(now.get("a"))).toBe("new");
    await now.close();
  });

  it("concurrent flushes never interleave, and puts during a write stay dirty", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    hook.events = [];
    let release!: () => void;
    let renaming!: () => void;
    const inRename = new Promise<void>((r) => {
      renaming = r;
    });
    const real = await vi.importActual<typeof import("node:fs/promises")>("node:fs/promises");
    hook.rename = async (from, to) => {
      renaming();
      await new Promise<void>((r) => {
        release = r;
      });
      await real.rename(from, to);
    };

    ks.put("a", bytes("1"));
    const first = ks.flush();
    await inRename; // the first write is mid-rename
    ks.put("b", bytes("2"));
    const second = ks.flush();
    const third = ks.flush();
    expect(ks.dirty).toBe(true);
    hook.rename = undefined; // later writes rename at once
    release();
    await Promise.all([first, second, third]);

    expect(hook.events).toEqual(["rename-start", "rename-end", "rename-start", "rename-end"]);
    expect(ks.dirty).toBe(false);
    await ks.close();
    const again = await FileKeyBackend.open(path, PASS);
    expect(again.list()).toEqual(["a", "b"]);
    await again.close();
  });
});
