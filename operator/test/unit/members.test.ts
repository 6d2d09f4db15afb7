import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  askMembers,
  countAliveMembers,
  judgeMembers,
  MEMBER_RECHECK,
  type MemberAnswers,
  type MemberRecheck,
  planMemberRecheck,
} from "../../src/controller/members.js";
import type { ListResult } from "../../src/kube/client.js";
import { hermesNode } from "./fixtures.js";

describe("countAliveMembers", () => {
  it("counts alive entries in a list or under members", () => {
    expect(
      countAliveMembers([{ state: "alive" }, { state: "ALIVE" }, { state: "suspect" }, { state: "dead" }]),
    ).toBe(2);
    expect(countAliveMembers({ members: [{ status: "alive" }, { id: "x" }] })).toBe(2);
    expect(countAliveMembers({ nope: 1 })).toBeUndefined();
    expect(countAliveMembers("text")).toBeUndefined();
  });
});

describe("judgeMembers", () => {
  it("has converged when every ready node answers and sees exactly the ready nodes", () => {
    expect(judgeMembers([3, 3, 3])).toEqual({ members: 3, converged: true });
    expect(judgeMembers([1])).toEqual({ members: 1, converged: true });
  });

  it("reports the fewest any node sees, and has not converged while the nodes disagree", () => {
    expect(judgeMembers([1, 3, 3])).toEqual({ members: 1, converged: false }); // pod 0 has just restarted
    expect(judgeMembers([3, 3, 2])).toEqual({ members: 2, converged: false });
    expect(judgeMembers([3, 3])).toEqual({ members: 3, converged: false }); // a pod has gone, not yet seen dead
    expect(judgeMembers([3, 3, undefined])).toEqual({ members: 3, converged: false });
  });

  it("reports nothing when no node answers or none is ready", () => {
    expect(judgeMembers([undefined, undefined])).toEqual({ converged: false });
    expect(judgeMembers([])).toEqual({ converged: false });
  });
});

/**
 * Reconciles as the work queue would under a fake clock: at each time, the nodes answer as `mesh`
 * says, and the next reconcile comes after the planned delay, or after `resyncMs` without one.
 */
function simulate(mesh: (atMs: number) => MemberAnswers, untilMs: number, resyncMs = 5 * 60_000) {
  const checks: { atMs: number; members?: number; delayMs?: number }[] = [];
  let recheck: MemberRecheck | undefined;
  for (let atMs = 0; atMs <= untilMs; ) {
    const answers = mesh(atMs);
    const plan = planMemberRecheck(recheck, answers, atMs);
    recheck = plan.recheck;
    checks.push({ atMs, members: judgeMembers(answers).members, delayMs: plan.delayMs });
    atMs += plan.delayMs ?? resyncMs;
  }
  return checks;
}

describe("planMemberRecheck", () => {
  it("reports a restarted node's return within seconds of the mesh converging, then stops", () => {
    const convergedAtMs = 5_000;
    const checks = simulate((t) => (t < convergedAtMs ? [1, 3, 3] : [3, 3, 3]), 60_000);
    expect(checks.map((c) => c.atMs)).toEqual([0, 1_000, 2_000, 4_000, 8_000]);
    expect(checks.map((c) => c.members)).toEqual([1, 1, 1, 1, 3]);
    expect(checks.at(-1)!.delayMs).toBeUndefined(); // converged: the usual resync again
  });

  it("is behind a converging mesh by at most the time already waited, and never more than maxDelayMs", () => {
    for (let convergedAtMs = 100; convergedAtMs < MEMBER_RECHECK.windowMs; convergedAtMs += 700) {
      const checks = simulate(
        (t) => (t < convergedAtMs ? [2, 3, 3] : [3, 3, 3]),
        MEMBER_RECHECK.windowMs + MEMBER_RECHECK.maxDelayMs,
      );
      const seen = checks.find((c) => c.members === 3)!;
      const lagMs = seen.atMs - convergedAtMs;
      expect(lagMs).toBeLessThanOrEqual(Math.max(MEMBER_RECHECK.minDelayMs, convergedAtMs));
      expect(lagMs).toBeLessThanOrEqual(MEMBER_RECHECK.maxDelayMs);
    }
  });

  it("gives a mesh that does not converge a bounded number of re-checks, then the usual resync", () => {
    const checks = simulate(() => [1, 3, 3], 30 * 60_000);
    const early = checks.filter((c) => c.atMs < MEMBER_RECHECK.windowMs);
    expect(early.length).toBeLessThanOrEqual(5 + MEMBER_RECHECK.windowMs / MEMBER_RECHECK.maxDelayMs);
    for (const c of early) expect(c.delayMs).toBeGreaterThanOrEqual(MEMBER_RECHECK.minDelayMs);
    const late = checks.filter((c) => c.atMs >= MEMBER_RECHECK.windowMs);
    expect(late.length).toBeGreaterThan(0);
    for (const c of late) expect(c.delayMs).toBeUndefined();
  });

  it("does not stretch the window for reconciles that other events cause", () => {
    let recheck: MemberRecheck | undefined;
    for (let atMs = 0; atMs < MEMBER_RECHECK.windowMs; atMs += 100) {
      const plan = planMemberRecheck(recheck, [1, 3, 3], atMs);
      recheck = plan.recheck;
      expect(plan.delayMs).toBeDefined();
    }
    expect(planMemberRecheck(recheck, [1, 3, 3], MEMBER_RECHECK.windowMs).delayMs).toBeUndefined();
  });

  it("starts a new window when the number of ready pods changes", () => {
    const late = MEMBER_RECHECK.windowMs + 1;
    const stale = { sinceMs: 0, readyPods: 3, changedMs: 0, answers: "1,3,3" };
    expect(planMemberRecheck(stale, [1, 3, 3], late)).toEqual({ recheck: stale });
    expect(planMemberRecheck(stale, [1, 3, 3, 3], late)).toEqual({
      recheck: { sinceMs: late, readyPods: 4, changedMs: late, answers: "1,3,3,3" },
      delayMs: MEMBER_RECHECK.minDelayMs,
    });
  });

  it("follows a rolling update that replaces pods one at a time for longer than the window", () => {
    // Three ready pods throughout (a terminating pod stays ready until it stops, and its successor
    // is soon ready); the mesh keeps moving but never converges until the last pod is seen by all.
    const podMs = 50_000;
    const endMs = 3 * podMs;
    expect(endMs).toBeGreaterThan(MEMBER_RECHECK.windowMs);
    const mesh = (t: number): MemberAnswers => {
      if (t >= endMs) return [3, 3, 3];
      const replaced = Math.floor(t / podMs);
      const early = t % podMs < podMs / 2;
      return [0, 1, 2].map((i) => (i === replaced ? (early ? 1 : 3) : 2));
    };
    const checks = simulate(mesh, endMs + MEMBER_RECHECK.windowMs);
    const seen = checks.find((c) => c.atMs >= endMs)!;
    expect(seen.members).toBe(3);
    expect(seen.atMs - endMs).toBeLessThanOrEqual(MEMBER_RECHECK.maxDelayMs);
  });

  it("plans nothing, and forgets the window, once converged or with no pod ready", () => {
    const stale = { sinceMs: 0, readyPods: 3, changedMs: 0, answers: "1,3,3" };
    expect(planMemberRecheck(stale, [3, 3, 3], 10_000)).toEqual({});
    expect(planMemberRecheck(stale, [], 10_000)).toEqual({});
    expect(planMemberRecheck(undefined, [3, 3, 3], 10_000)).toEqual({});
  });
});

describe("askMembers", () => {
  const servers: Server[] = [];
  const asked: string[] = [];

  /** A node's admin endpoint on loopback that answers /mesh/members with `states`, or `status`. */
  async function node(name: string, states: string[], status = 200): Promise<number> {
    const server = createServer((req, res) => {
      asked.push(`${name} ${req.url}`);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(states.map((state, i) => ({ nodeId: `n${i}`, state }))));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  }

  const pod = (name: string, adminPort: number | undefined, ready: boolean, podIP = "127.0.0.1"): V1Pod => ({
    metadata: { name },
    spec: {
      containers: [
        {
          name: "node",
          ports: [
            { name: "app", containerPort: 1 },
            ...(adminPort ? [{ name: "admin", containerPort: adminPort }] : []),
          ],
        },
      ],
    },
    status: { podIP, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  });

  let pods: V1Pod[] = [];
  const listed: { path: string; labelSelector?: string }[] = [];
  const client = {
    list: async <T>(path: string, query: { labelSelector?: string } = {}): Promise<ListResult<T>> => {
      listed.push({ path, labelSelector: query.labelSelector });
      return { items: pods as T[], metadata: { resourceVersion: "1" } };
    },
  };

  beforeAll(async () => {
    const [p0, p1, p2, p3] = await Promise.all([
      node("mesh-0", ["alive", "alive", "alive"]),
      node("mesh-1", ["alive", "suspect", "alive"]),
      node("mesh-2", ["alive"], 503),
      node("mesh-3", ["alive"]),
    ]);
    pods = [
      pod("mesh-2", p2, true),
      pod("mesh-1", p1, true),
      pod("mesh-3", p3, false), // not ready: not asked
      pod("mesh-0", p0, true),
      pod("mesh-4", p0, true, ""), // no IP yet
      { ...pod("mesh-5", p3, true), metadata: { name: "mesh-5", deletionTimestamp: new Date() } }, // terminating
    ];
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it("asks every ready pod that is not terminating on the admin port it declares, in pod-name order", async () => {
    expect(await askMembers(client, hermesNode(), 2000)).toEqual([3, 2, undefined, undefined]);
    expect(listed).toEqual([
      {
        path: "/api/v1/namespaces/chat/pods",
        labelSelector: "app.kubernetes.io/name=hermes-node,app.kubernetes.io/instance=mesh",
      },
    ]);
    expect(asked.sort()).toEqual(["mesh-0 /mesh/members", "mesh-1 /mesh/members", "mesh-2 /mesh/members"]);
  });

  it("counts a node that does not answer in time as no answer", async () => {
    const silent = createServer(() => {}); // accepts, never answers
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    pods = [pod("mesh-0", (silent.address() as AddressInfo).port, true)];
    expect(await askMembers(client, hermesNode(), 200)).toEqual([undefined]);
    silent.closeAllConnections();
  });
});
