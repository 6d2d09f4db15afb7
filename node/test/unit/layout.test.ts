import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The import graph of the sources, type imports included: how the layout reads is part of the
// code. Each part (a folder under src/) sits on a layer and imports only parts of lower layers.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const LAYERS: Record<string, string[][]> = {
  "node/src": [
    ["utils"],
    ["crypto", "telemetry"],
    ["identity", "transport"],
    ["protocol", "keystore"],
    ["router", "sdk"],
    ["mesh"],
    ["config", "admin"],
    ["(root)"],
    ["cli"],
  ],
  "operator/src": [["api", "telemetry"], ["desired"], ["kube"], ["controller"], ["(root)"]],
};

/** Every .ts file under `src` (relative to the repository) → the files it imports. */
function importGraph(src: string): Map<string, string[]> {
  const files = readdirSync(join(ROOT, src), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => join(src, f));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const targets: string[] = [];
    for (const [, spec] of text.matchAll(/(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g)) {
      const base = normalize(join(dirname(file), spec!)).replace(/\.js$/, "");
      const target = [`${base}.ts`, join(base, "index.ts")].find((t) => known.has(t));
      if (!target) throw new Error(`${file} imports ${spec}, which is not a source file`);
      targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

function partOf(src: string, file: string): string {
  const parts = relative(src, file).split("/");
  return parts.length > 1 ? parts[0]! : "(root)";
}

/** Groups of files that import each other, directly or around a loop (Tarjan). */
function loops(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group = stack.splice(stack.indexOf(v));
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe.each(Object.keys(LAYERS))("the layout of %s", (src) => {
  const graph = importGraph(src);
  const layer = new Map(LAYERS[src]!.flatMap((parts, rank) => parts.map((p) => [p, rank] as const)));

  it("has no import loop", () => {
    expect(loops(graph)).toEqual([]);
  });

  it("has every part on a layer, importing only parts below it", () => {
    const parts = new Set([...graph.keys()].map((f) => partOf(src, f)));
    expect([...parts].filter((p) => !layer.has(p))).toEqual([]);
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = partOf(src, file);
      for (const target of targets) {
        const to = partOf(src, target);
        if (to !== from && layer.get(to)! >= layer.get(from)!) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
