// The memberlist baseline of the mesh scenario: test/bench/memberlist/ (Go, hashicorp/memberlist
// from the Go module proxy) built once per source version and cached, then run for each N.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { log } from "./util.mjs";

const SOURCE = fileURLToPath(new URL("./memberlist/", import.meta.url));
const FILES = ["main.go", "go.mod", "go.sum"];

/**
 * The path of the memberlist-bench binary: from the cache
 * (${XDG_CACHE_HOME:-~/.cache}/hermes/bench/memberlist-<hash of the sources and Go version>/),
 * built there first when missing. Throws, saying what to install, when `go` is not on PATH.
 */
export async function memberlistBinary() {
  const version = spawnSync("go", ["version"], { encoding: "utf8" });
  if (version.error || version.status !== 0) {
    throw new Error(
      "the memberlist baseline needs Go to build test/bench/memberlist: install Go 1.25 or later " +
        `(the go command on PATH, https://go.dev/dl) (${version.error?.message ?? version.stderr.trim()})`,
    );
  }
  const hash = createHash("sha256").update(version.stdout);
  for (const file of FILES) hash.update(await readFile(join(SOURCE, file)));
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  const dir = join(cache, "hermes", "bench", `memberlist-${hash.digest("hex").slice(0, 12)}`);
  const binary = join(dir, "memberlist-bench");
  if (existsSync(binary)) return binary;
  log(`memberlist: building test/bench/memberlist into ${dir} ...`);
  await mkdir(dir, { recursive: true });
  const build = spawnSync("go", ["build", "-trimpath", "-o", `${binary}.partial`, "."], {
    cwd: SOURCE,
    env: { ...process.env, CGO_ENABLED: "0" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (build.status !== 0) throw new Error(`go build in ${SOURCE} failed (exit ${build.status}); see above`);
  await rename(`${binary}.partial`, binary);
  return binary;
}

/**
 * One run of the baseline at N = size: the last member's join and `joins` fresh joins, then
 * `trials` kill trials with rejoins, as meshScaling does for Hermes nodes. Raw samples in ms.
 */
export function memberlistRun(binary, { size, trials, joins, settleMs }) {
  return new Promise((resolve, reject) => {
    const args = [`-nodes=${size}`, `-trials=${trials}`, `-joins=${joins}`, `-settle=${settleMs}ms`];
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let lastLine = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      const lines = stderr.split("\n");
      stderr = lines.pop();
      for (const line of lines) log(line);
      lastLine = lines.at(-1) ?? lastLine;
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0)
        return reject(new Error(`${binary} ${args.join(" ")} exited with ${code}: ${stderr || lastLine}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (error) {
        reject(new Error(`memberlist-bench printed no result: ${error.message}`));
      }
    });
  });
}
