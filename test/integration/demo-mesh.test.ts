import { beforeAll, describe, expect, it } from "vitest";
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { requireBuild, runCli } from "./cli.js";

beforeAll(() => requireBuild());

describe("hermes demo --nodes 3", () => {
  it("runs a cross-node chat over a mutual-TLS mesh of processes; churn is detected and the chat outlives the node", async () => {
    const { code, stdout, stderr } = await runCli(
      ["demo", "--nodes", "3", "--messages", "100", "--json"],
      {},
      110_000,
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result).toMatchObject({
      ok: true,
      nodes: 3,
      members: 3,
      crossNode: true,
      messagesSent: 200,
      messagesDelivered: 200,
      messagesAcked: 200,
      inOrder: true,
      lost: 0,
      chatSurvived: true,
    });
    expect(result.detectionMs).toBeGreaterThan(0);
    expect(result.detectionsMs).toHaveLength(2);
  });
});

describe("hermes mesh members", () => {
  it("prints the members a node knows, and says when a node has no mesh", async () => {
    const node = await spawnNode({ flags: ["--mesh.insecure=true"] });
    try {
      const table = await runCli(["mesh", "members", "--admin", node.adminUrl]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^NODE\s+STATE/);
      expect(table.stdout).toContain(`${node.nodeId} *`);
      expect(table.stdout).toMatch(/alive/);
      const routes = await runCli(["mesh", "routes", "--admin", node.adminUrl]);
      expect(JSON.parse(routes.stdout)).toMatchObject({ nodeId: node.nodeId });
    } finally {
      await node.stop();
    }
    const alone = await spawnNode();
    try {
      const none = await runCli(["mesh", "members", "--admin", alone.adminUrl]);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/has no mesh/);
    } finally {
      await alone.stop();
    }
  });
});
