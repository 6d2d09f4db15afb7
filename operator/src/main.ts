#!/usr/bin/env node
import { KubeConfig } from "@kubernetes/client-node";
import { Controller } from "./controller/controller.js";
import { KubeClient } from "./kube/client.js";
import { LeaderElector } from "./kube/leader.js";
import { type Options, parseOptions, UsageError, usage } from "./options.js";
import { metricsRoutes, probeRoutes, serve } from "./telemetry/health.js";
import { createLogger } from "./telemetry/log.js";
import { OperatorMetrics } from "./telemetry/metrics.js";

/**
 * The operator process: serves /metrics, /healthz and /readyz, waits to win the leader Lease,
 * then runs the controller until SIGTERM (it then gives the Lease up so a standby takes over at
 * once) or until it loses the Lease (it then exits, to start over as a candidate).
 */
async function main(): Promise<number> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(usage());
    return 0;
  }
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`hermes-operator: ${err.message}\n\n${usage()}`);
    return 2;
  }
  const log = createLogger(opts.logLevel);
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const client = new KubeClient(kc);
  const metrics = new OperatorMetrics();
  const controller = new Controller({
    client,
    settings: { defaultImage: opts.defaultNodeImage, clusterDomain: opts.clusterDomain },
    log,
    metrics,
    namespaces: opts.namespaces,
    identity: opts.identity,
    workers: opts.workers,
    ...(opts.watchTimeoutSeconds ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
  });
  const elector = opts.leaderElect
    ? new LeaderElector({
        client,
        namespace: opts.leaderElectionNamespace,
        name: opts.leaderElectionId,
        identity: opts.identity,
        log,
      })
    : undefined;

  const stopping = new AbortController();
  const servers = await Promise.all([
    serve(opts.metricsBindAddress, metricsRoutes(metrics.registry)),
    serve(
      opts.healthProbeBindAddress,
      probeRoutes({
        live: () => undefined,
        // A standby is ready (healthy and waiting); the leader once its caches have synced.
        ready: () => ((elector && !elector.isLeader) || controller.ready ? undefined : "caches not synced"),
      }),
    ),
  ]);
  log.info(
    {
      metrics: opts.metricsBindAddress,
      probes: opts.healthProbeBindAddress,
      identity: opts.identity,
      namespaces: opts.namespaces,
    },
    "hermes-operator started",
  );
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      log.info({ signal }, "shutting down");
      stopping.abort();
    });
  }

  let exitCode = 0;
  if (elector) {
    log.info(
      { lease: `${opts.leaderElectionNamespace}/${opts.leaderElectionId}` },
      "waiting to become the leader",
    );
    if (await elector.run(stopping.signal)) {
      metrics.leader.set(1);
      await controller.start();
      await elector.watchLeadership(stopping.signal);
      if (!stopping.signal.aborted) exitCode = 1; // lost the lease: another replica leads now
    }
  } else {
    await controller.start();
    await new Promise((resolve) => stopping.signal.addEventListener("abort", resolve, { once: true }));
  }
  metrics.leader.set(0);
  await controller.stop();
  await elector?.release().catch((err) => log.warn({ err: String(err) }, "could not release the lease"));
  await Promise.all(servers.map(({ server }) => new Promise((resolve) => server.close(resolve))));
  log.info({ exitCode }, "stopped");
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`hermes-operator: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
