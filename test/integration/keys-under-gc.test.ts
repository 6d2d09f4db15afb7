import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { requireBuild } from "./cli.js";

const APP = fileURLToPath(new URL("./apps/keys-under-gc.mjs", import.meta.url));
/** How long keys are made; with generateKeyPairSync the process hung within it 5 runs of 5. */
const DURATION_MS = 8000;
/** A bound on a hang, long past DURATION_MS however busy the machine, not a speed check. */
const HANG_MS = 60_000;

beforeAll(requireBuild);

describe("the native crypto backend under garbage collection at every allocation", () => {
  it(
    "makes X25519 and Ed25519 keys without taking a lock a collection also takes (a Node.js 20 hang)",
    async () => {
      const out = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ["--gc-interval=20", "--gc-global", APP, String(DURATION_MS)],
          { timeout: HANG_MS, killSignal: "SIGKILL" },
          (error, stdout, stderr) =>
            error
              ? reject(new Error(`${error.killed ? `hung for ${HANG_MS} ms` : error.message}: ${stderr}`))
              : resolve(stdout),
        );
      });
      expect(Number(out.trim())).toBeGreaterThan(0);
    },
    HANG_MS + 10_000,
  );
});
