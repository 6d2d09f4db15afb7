// The chart's alerting rules through Prometheus's own tool: they load (`promtool check rules`) and
// fire when they should and not before (`promtool test rules`, fixtures/alerts.promtool.yaml).
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./support/cluster.js";

const REPO = resolve(import.meta.dirname, "../..");
const RULES = join(REPO, "charts/hermes/files/prometheus-rules.yaml");

/** promtool, as hack/control-plane.sh --cluster builds it. */
function promtool(): string {
  let out = "";
  try {
    out = execFileSync("bash", [join(REPO, "hack/control-plane.sh"), "--check", "--cluster"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? "");
  }
  const path = /^promtool=(.+)$/m.exec(out)?.[1];
  if (!path)
    throw new Error(
      "promtool is missing: run hack/control-plane.sh --cluster (it builds promtool from Prometheus's Go module)",
    );
  return path;
}

describe("the chart's Prometheus rules", () => {
  const tool = promtool();

  it("load in Prometheus: promtool check rules", async () => {
    const r = await run(tool, ["check", "rules", RULES], { allowFail: true });
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it("fire when they should and not before: promtool test rules", async () => {
    const r = await run(tool, ["test", "rules", join(import.meta.dirname, "fixtures/alerts.promtool.yaml")], {
      allowFail: true,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain("SUCCESS");
  });
});
