import { describe, expect, it } from "vitest";
import { envNameOf, parseOptions, UsageError } from "../../src/options.js";
import { parseBind, probeRoutes } from "../../src/telemetry/health.js";

describe("parseOptions", () => {
  it("has defaults that suit a pod", () => {
    expect(parseOptions([], { POD_NAME: "op-1", POD_NAMESPACE: "hermes-system" })).toEqual({
      namespaces: [],
      defaultNodeImage: "",
      clusterDomain: "cluster.local",
      metricsBindAddress: ":8080",
      healthProbeBindAddress: ":8081",
      leaderElect: true,
      leaderElectionNamespace: "hermes-system",
      leaderElectionId: "hermes-operator",
      identity: "op-1",
      workers: 2,
      logLevel: "info",
      watchTimeoutSeconds: 0,
    });
  });

  it("takes flags over HERMES_OPERATOR_* variables", () => {
    const o = parseOptions(["--namespaces=a, b", "--workers", "4", "--leader-elect=false"], {
      HERMES_OPERATOR_NAMESPACES: "ignored",
      HERMES_OPERATOR_DEFAULT_NODE_IMAGE: "hermes-node:1",
    });
    expect(o).toMatchObject({
      namespaces: ["a", "b"],
      workers: 4,
      leaderElect: false,
      defaultNodeImage: "hermes-node:1",
    });
    expect(envNameOf("health-probe-bind-address")).toBe("HERMES_OPERATOR_HEALTH_PROBE_BIND_ADDRESS");
  });

  it("refuses what it cannot use, saying why", () => {
    const fails = (argv: string[]) => () => parseOptions(argv, {});
    expect(fails(["--nope=1"])).toThrow(new UsageError("unknown flag --nope"));
    expect(fails(["--workers=0"])).toThrow('--workers must be an integer from 1 to 32, got "0"');
    expect(fails(["--leader-elect=yes"])).toThrow('--leader-elect must be true or false, got "yes"');
    expect(fails(["--log-level=loud"])).toThrow("--log-level must be one of");
    expect(fails(["stray"])).toThrow('unexpected argument "stray"');
    expect(fails(["--cluster-domain"])).toThrow("flag --cluster-domain needs a value");
  });
});

describe("health", () => {
  it("parses bind addresses", () => {
    expect(parseBind(":8080")).toEqual({ host: "", port: 8080 });
    expect(parseBind("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseBind("[::1]:9")).toEqual({ host: "::1", port: 9 });
    expect(() => parseBind("8080x")).toThrow('invalid bind address "8080x"');
  });

  it("answers 200 or 503 with the reason", async () => {
    let problem: string | undefined = "caches not synced";
    const routes = probeRoutes({ live: () => undefined, ready: () => problem });
    expect(await routes["/healthz"]!()).toMatchObject({ status: 200, body: "ok\n" });
    expect(await routes["/readyz"]!()).toMatchObject({ status: 503, body: "caches not synced\n" });
    problem = undefined;
    expect(await routes["/readyz"]!()).toMatchObject({ status: 200 });
  });
});
