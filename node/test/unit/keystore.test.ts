import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ID_PATTERN } from "../../src/identity/index.js";
import { openEntry, sealEntry } from "../../src/keystore/crypto.js";
import {
  FileKeyBackend,
  initKeystore,
  KeystoreError,
  type KeystoreErrorCode,
  loadOrCreateNodeIdentity,
  NODE_IDENTITY_ENTRY,
} from "../../src/keystore/index.js";

const LOW = { memoryKiB: 256, iterations: 1, parallelism: 1 };
const PASS = new TextEncoder().encode("correct horse battery staple");
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hermes-keystore-"));
  path = join(dir, "keystore.json");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A keystore with three entries, flushed and closed. */
async function seeded(): Promise<void> {
  const ks = await FileKeyBackend.create(path, PASS, LOW);
  ks.put("a", bytes("alpha"));
  ks.put("b", bytes("bravo"));
  ks.put("chat/1", bytes("charlie"));
  await ks.close();
}

async function expectOpenError(code: KeystoreErrorCode, passphrase = PASS): Promise<KeystoreError> {
  const before = await readFile(path);
  const err = await FileKeyBackend.open(path, passphrase).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeystoreError);
  const ke = err as KeystoreError;
  expect(ke.code).toBe(code);
  expect(ke.message).toContain(path);
  expect((await readFile(path)).equals(before)).toBe(true); // open never writes
  return ke;
}

type Doc = { kdf: Record<string, unknown>; entries: Record<string, string> } & Record<string, unknown>;
async function tamper(edit: (doc: Doc) => void): Promise<void> {
  const doc = JSON.parse(await readFile(path, "utf8")) as Doc;
  edit(doc);
  await writeFile(path, JSON.stringify(doc, null, 2) + "\n");
}
function flipB64(b64: string, byte = 0): string {
  const buf = Buffer.from(b64, "base64");
  buf[byte]! ^= 0x01;
  return buf.toString("base64");
}

/** White-box view of the private state, to prove it is zeroed. */
type Internals = {
  keys: { seal: Uint8Array; mac: Uint8Array; check: Uint8Array };
  entries: Map<string, Uint8Array>;
};
const internals = (ks: FileKeyBackend) => ks as unknown as Internals;
const allZero = (b: Uint8Array) => b.every((x) => x === 0);

describe("FileKeyBackend", () => {
  it("round-trips put/get/delete/list and persists across reopen", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    expect(ks.list()).toEqual([]);
    expect(ks.dirty).toBe(false);
    ks.put("chat/2", bytes("two"));
    ks.put("chat/1", bytes("one"));
    ks.put("node/identity", bytes("id"));
    expect(ks.dirty).toBe(true);
    expect(ks.list()).toEqual(["chat/1", "chat/2", "node/identity"]);
    expect(ks.list("chat/")).toEqual(["chat/1", "chat/2"]);
    expect(text(ks.get("chat/1"))).toBe("one");
    expect(ks.get("missing")).toBeUndefined();
    expect(ks.delete("chat/2")).toBe(true);
    expect(ks.delete("chat/2")).toBe(false);
    ks.put("chat/1", bytes("uno")); // overwrite
    await ks.flush();
    expect(ks.dirty).toBe(false);
    await ks.close();

    const again = await FileKeyBackend.open(path, PASS);
    expect(again.list()).toEqual(["chat/1", "node/identity"]);
    expect(text(again.get("chat/1"))).toBe("uno");
    expect(again.dirty).toBe(false);
    await again.close();
  });

  it("copies values in and out", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    const value = bytes("secret");
    ks.put("k", value);
    value.fill(0);
    const out = ks.get("k")!;
    expect(text(out)).toBe("secret");
    out.fill(0);
    expect(text(ks.get("k"))).toBe("secret");
    await ks.close();
  });

  it("keeps values sealed in memory and in the file", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    ks.put("k", bytes("plaintext-marker"));
    const held = Buffer.from(internals(ks).entries.get("k")!);
    expect(held.includes("plaintext-marker")).toBe(false);
    await ks.close();
    expect((await readFile(path, "utf8")).includes("plaintext-marker")).toBe(false);
  });

  it("rejects bad entry names", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    expect(() => ks.put("", bytes("x"))).toThrow(TypeError);
    expect(() => ks.put("tab\there", bytes("x"))).toThrow(TypeError);
    expect(() => ks.put("é", bytes("x"))).toThrow(TypeError);
    ks.put("__proto__", bytes("fine")); // an ordinary key, not a prototype
    await ks.close();
    const again = await FileKeyBackend.open(path, PASS);
    expect(text(again.get("__proto__"))).toBe("fine");
    await again.close();
  });

  it("writes the documented format with mode 0600", async () => {
    await seeded();
    const doc = JSON.parse(await readFile(path, "utf8")) as Doc;
    expect(doc.format).toBe("hermes-keystore");
    expect(doc.version).toBe(1);
    expect(doc.kdf).toMatchObject({ alg: "argon2id", ...LOW });
    expect(Object.keys(doc.entries)).toEqual(["a", "b", "chat/1"]);
    if (process.platform !== "win32") expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("create refuses an existing file and bad parameters", async () => {
    await seeded();
    const before = await readFile(path);
    await expect(FileKeyBackend.create(path, PASS, LOW)).rejects.toMatchObject({ code: "exists" });
    expect((await readFile(path)).equals(before)).toBe(true);
    const other = join(dir, "other.json");
    await expect(FileKeyBackend.create(other, PASS, { ...LOW, memoryKiB: 4 })).rejects.toThrow(RangeError);
    await expect(FileKeyBackend.create(other, new Uint8Array(0), LOW)).rejects.toThrow(TypeError);
  });

  it("reports a missing file and an unreadable path", async () => {
    await expect(FileKeyBackend.open(path, PASS)).rejects.toMatchObject({ code: "not_found" });
    await mkdir(path);
    await expect(FileKeyBackend.open(path, PASS)).rejects.toMatchObject({ code: "io" });
  });

  it("delete removes the entry for good and zeroes it", async () => {
    await seeded();
    const ks = await FileKeyBackend.open(path, PASS);
    const held = internals(ks).entries.get("b")!;
    const sealedB64 = Buffer.from(held).toString("base64");
    expect(ks.delete("b")).toBe(true);
    expect(allZero(held)).toBe(true);
    await ks.close();
    expect((await readFile(path, "utf8")).includes(sealedB64)).toBe(false);
    const again = await FileKeyBackend.open(path, PASS);
    expect(again.get("b")).toBeUndefined();
    expect(again.list()).toEqual(["a", "chat/1"]);
    await again.close();
  });

  it("close flushes, zeroes keys and entries, and later use throws closed", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    ks.put("k", bytes("v"));
    const { keys, entries } = internals(ks);
    const sealed = entries.get("k")!;
    await ks.close();
    for (const b of [keys.seal, keys.mac, keys.check, sealed]) expect(allZero(b)).toBe(true);
    expect(entries.size).toBe(0);
    expect(ks.dirty).toBe(false);
    for (const use of [
      () => ks.get("k"),
      () => ks.put("k", bytes("v")),
      () => ks.delete("k"),
      () => ks.list(),
    ])
      expect(use).toThrow(expect.objectContaining({ code: "closed" }));
    await expect(ks.flush()).rejects.toMatchObject({ code: "closed" });
    await expect(ks.close()).resolves.toBeUndefined(); // idempotent for shutdown paths
    const again = await FileKeyBackend.open(path, PASS);
    expect(text(again.get("k"))).toBe("v"); // close flushed
    await again.close();
  });

  it("flushes concurrently called from many places into a consistent file", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      ks.put(`e/${i}`, bytes(String(i)));
      if (i % 3 === 0) ks.delete(`e/${i - 1}`);
      flushes.push(ks.flush());
      await Promise.resolve();
    }
    await Promise.all(flushes);
    const expected = ks.list();
    await ks.close();
    const again = await FileKeyBackend.open(path, PASS);
    expect(again.list()).toEqual(expected);
    await again.close();
  });

  it("ignores a half-written temp file left by a crash", async () => {
    await seeded();
    const full = await readFile(path, "utf8");
    await writeFile(join(dir, `.keystore.json.999.deadbeef.tmp`), full.slice(0, full.length / 2));
    const ks = await FileKeyBackend.open(path, PASS);
    expect(ks.list()).toEqual(["a", "b", "chat/1"]);
    ks.put("d", bytes("delta"));
    await ks.close(); // a later flush is not disturbed by the leftover either
    const again = await FileKeyBackend.open(path, PASS);
    expect(text(again.get("d"))).toBe("delta");
    await again.close();
  });
});

describe("FileKeyBackend open errors", () => {
  beforeEach(seeded);

  it("wrong passphrase", async () => {
    const e = await expectOpenError("wrong_passphrase", bytes("not the passphrase"));
    expect(e.message).toMatch(/wrong passphrase/);
  });

  it("wrong passphrase on an empty keystore too", async () => {
    await rm(path);
    await (await FileKeyBackend.create(path, PASS, LOW)).close();
    await expectOpenError("wrong_passphrase", bytes("nope"));
  });

  it("bit flip in an entry", async () => {
    await tamper((d) => {
      d.entries.b = flipB64(d.entries.b!, 30);
    });
    await expectOpenError("corrupt");
  });

  it("bit flip in the salt", async () => {
    await tamper((d) => {
      d.kdf.salt = flipB64(d.kdf.salt as string);
    });
    const e = await expectOpenError("corrupt");
    expect(e.message).toMatch(/header/);
  });

  it("changed kdf cost", async () => {
    await tamper((d) => {
      d.kdf.iterations = 2;
    });
    await expectOpenError("corrupt");
  });

  it("bit flip in the mac", async () => {
    await tamper((d) => {
      d.mac = flipB64(d.mac as string, 5);
    });
    await expectOpenError("corrupt");
  });

  it("an entry removed", async () => {
    await tamper((d) => {
      delete d.entries.b;
    });
    await expectOpenError("corrupt");
  });

  it("an entry added (copied under another name)", async () => {
    await tamper((d) => {
      d.entries.z = d.entries.a!;
    });
    await expectOpenError("corrupt");
  });

  it("two entries' values swapped", async () => {
    await tamper((d) => {
      [d.entries.a, d.entries.b] = [d.entries.b!, d.entries.a!];
    });
    await expectOpenError("corrupt");
  });

  it("an entry rolled back to an older sealed value", async () => {
    const old = (JSON.parse(await readFile(path, "utf8")) as Doc).entries.a!;
    const ks = await FileKeyBackend.open(path, PASS);
    ks.put("a", bytes("alpha-2"));
    await ks.close();
    await tamper((d) => {
      d.entries.a = old;
    });
    await expectOpenError("corrupt");
  });

  it("truncated file", async () => {
    const full = await readFile(path);
    await writeFile(path, full.subarray(0, full.length - 40));
    await expectOpenError("corrupt");
    await writeFile(path, "");
    await expectOpenError("corrupt");
  });

  it("not JSON", async () => {
    await writeFile(path, "hello, I am not a keystore\n");
    const e = await expectOpenError("corrupt");
    expect(e.message).toMatch(/not valid JSON/);
  });

  it("wrong format marker", async () => {
    await tamper((d) => {
      d.format = "something-else";
    });
    const e = await expectOpenError("corrupt");
    expect(e.message).toMatch(/format marker/);
  });

  it("unknown version", async () => {
    await tamper((d) => {
      d.version = 2;
    });
    const e = await expectOpenError("unsupported_version");
    expect(e.message).toMatch(/version 2/);
  });

  it("an unexpected field", async () => {
    await tamper((d) => {
      d.extra = true;
    });
    await expectOpenError("corrupt");
  });

  it("hostile kdf parameters are refused before any allocation", async () => {
    const good = await readFile(path);
    for (const kdf of [
      { memoryKiB: 2 ** 32 },
      { memoryKiB: 7 },
      { parallelism: 4, memoryKiB: 16 },
      { iterations: 0 },
      { iterations: 1e9 },
      { parallelism: 1.5 },
      { memoryKiB: "256" },
      { alg: "scrypt" },
    ]) {
      await tamper((d) => Object.assign(d.kdf, kdf));
      await expectOpenError("corrupt");
      await writeFile(path, good);
    }
  });

  it("a single bit flip anywhere is detected", async () => {
    const good = await readFile(path);
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i]! ^= 1 << (i % 8);
      await writeFile(path, bad);
      const err = await FileKeyBackend.open(path, PASS).then(
        () => new Error(`flip at byte ${i} was accepted`),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KeystoreError);
      // Only the version digit can read as a (different) version; all else is plain corruption.
      expect(["corrupt", "unsupported_version"]).toContain((err as KeystoreError).code);
    }
  });
});

describe("entry sealing", () => {
  it("binds the entry name", () => {
    const key = new Uint8Array(32).fill(7);
    const sealed = sealEntry(key, "a", bytes("v"));
    expect(text(openEntry(key, "a", sealed))).toBe("v");
    expect(openEntry(key, "b", sealed)).toBeUndefined();
    expect(openEntry(new Uint8Array(32), "a", sealed)).toBeUndefined();
  });
});

describe("node identity", () => {
  it("creates once and loads the same identity after reopen", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    const first = loadOrCreateNodeIdentity(ks);
    expect(first.created).toBe(true);
    expect(first.identity.id).toMatch(ID_PATTERN);
    expect(ks.list()).toEqual([NODE_IDENTITY_ENTRY]);
    const same = loadOrCreateNodeIdentity(ks);
    expect(same.created).toBe(false);
    expect(same.identity.id).toBe(first.identity.id);
    await ks.close();

    const again = await FileKeyBackend.open(path, PASS);
    const loaded = loadOrCreateNodeIdentity(again);
    expect(loaded).toMatchObject({ created: false });
    expect(loaded.identity.id).toBe(first.identity.id);
    for (const { identity } of [first, same, loaded]) identity.destroy();
    await again.close();
  });

  it("rejects a malformed stored key", async () => {
    const ks = await FileKeyBackend.create(path, PASS, LOW);
    ks.put(NODE_IDENTITY_ENTRY, new Uint8Array(5));
    expect(() => loadOrCreateNodeIdentity(ks)).toThrow(/node\/identity/);
    await ks.close();
  });
});

describe("initKeystore", () => {
  it("creates a keystore holding a fresh node identity", async () => {
    const res = await initKeystore({ path, passphrase: PASS, kdf: LOW });
    expect(res.nodeId).toMatch(ID_PATTERN);
    expect(isAbsolute(res.path)).toBe(true);
    expect(PASS.some((b) => b !== 0)).toBe(true); // the passphrase stays the caller's
    const ks = await FileKeyBackend.open(path, PASS);
    const { identity, created } = loadOrCreateNodeIdentity(ks);
    expect(created).toBe(false);
    expect(identity.id).toBe(res.nodeId);
    identity.destroy();
    await ks.close();
    await expect(initKeystore({ path, passphrase: PASS, kdf: LOW })).rejects.toMatchObject({
      code: "exists",
    });
  });
});
