import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readPassphrase } from "../../src/keystore/index.js";

const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

describe("readPassphrase", () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hermes-passphrase-"));
    file = join(dir, "passphrase");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prefers the variable over the file", async () => {
    await writeFile(file, "from-file\n");
    expect(text(readPassphrase({ env: "PW", file }, { PW: "from-env" }))).toBe("from-env");
    expect(text(readPassphrase({ env: "PW", file }, {}))).toBe("from-file");
    expect(text(readPassphrase({ env: "", file }, { PW: "from-env" }))).toBe("from-file");
  });

  it("takes the file's first line, without the newline, keeping spaces", async () => {
    await writeFile(file, " two words \nsecond line\n");
    expect(text(readPassphrase({ env: "PW", file }, {}))).toBe(" two words ");
    await writeFile(file, "crlf\r\n");
    expect(text(readPassphrase({ env: "PW", file }, {}))).toBe("crlf");
    await writeFile(file, "no-newline");
    expect(text(readPassphrase({ env: "PW", file }, {}))).toBe("no-newline");
  });

  it("returns undefined when no source is configured or set", () => {
    expect(readPassphrase({ env: "PW", file: "" }, {})).toBeUndefined();
    expect(readPassphrase({ env: "", file: "" }, { PW: "x" })).toBeUndefined();
  });

  it("refuses an empty passphrase, naming its source", async () => {
    expect(() => readPassphrase({ env: "PW", file: "" }, { PW: "" })).toThrow(/PW/);
    await writeFile(file, "\nsecond line\n");
    expect(() => readPassphrase({ env: "PW", file }, {})).toThrow(file);
    await writeFile(file, "");
    expect(() => readPassphrase({ env: "PW", file }, {})).toThrow(file);
  });

  it("names an unreadable file", () => {
    const missing = join(dir, "missing");
    expect(() => readPassphrase({ env: "PW", file: missing }, {})).toThrow(missing);
    expect(() => readPassphrase({ env: "PW", file: dir }, {})).toThrow(dir);
  });
});
