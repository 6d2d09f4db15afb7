import { monitorEventLoopDelay } from "node:perf_hooks";
import type { AppEvent, Beat, Command, Reply, ReplyValue, RoundTally } from "../protocol.js";
import { Pair } from "./pair.js";

/**
 * An app runner: a process of its own (forked by the harness, see ../fleet.ts) that hosts some
 * pairs of SDK apps, so the apps and their checks are scheduled like any app process rather
 * than sharing an event loop with the harness that kills and restarts nodes. It answers the
 * harness's commands over the IPC channel and exits when the channel closes.
 */

/** How often "settle" looks whether every send of the round has come to something. */
const SETTLE_POLL_MS = 50;
/** How often the runner tells the harness it is alive (protocol.ts, Beat). */
const BEAT_MS = 1000;

const pairs: Pair[] = [];
let events: AppEvent[] = [];

async function handle(command: Command): Promise<ReplyValue[Command["kind"]]> {
  switch (command.kind) {
    case "start": {
      for (const spec of command.pairs)
        pairs.push(new Pair(spec, command.appEndpoints, command.traffic, (e) => events.push(e)));
      await Promise.all(pairs.map((p) => p.start()));
      return null;
    }
    case "round":
      events = [];
      for (const pair of pairs) {
        pair.ways.ab.startRound();
        pair.ways.ba.startRound();
        pair.setSending(true);
      }
      return null;
    case "pause":
      for (const pair of pairs) pair.setSending(false);
      return null;
    case "settle": {
      const deadline = Date.now() + command.timeoutMs;
      const pending = () => pairs.some((p) => p.ways.ab.pending + p.ways.ba.pending > 0);
      while (pending() && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      return { settled: !pending() };
    }
    case "tally": {
      const tally: RoundTally = {
        ways: pairs.flatMap((p) => [p.ways.ab.tally(), p.ways.ba.tally()]),
        events: [...events],
      };
      return tally;
    }
    case "status":
      return pairs.map((p) => p.status());
    case "renew": {
      const chosen = pairs.filter((p) => command.pairs.includes(p.spec.id));
      const timeout = new Promise((resolve) => setTimeout(resolve, command.timeoutMs).unref());
      await Promise.race([Promise.all(chosen.map((p) => p.renew(true))), timeout]);
      return {
        renewed: chosen.filter((p) => p.ready).map((p) => p.spec.id),
        failed: chosen.filter((p) => !p.ready).map((p) => p.spec.id),
      };
    }
    case "stop":
      await Promise.all(pairs.map((p) => p.stop()));
      return null;
  }
}

process.on("message", (command: Command) => {
  handle(command).then(
    (value) => reply({ id: command.id, ok: true, value }),
    (error: unknown) =>
      reply({ id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
// The harness is gone (or done): nothing else keeps these apps.
process.on("disconnect", () => process.exit(0));

function reply(message: Reply | Beat): void {
  process.send?.(message);
}

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
setInterval(() => {
  const cpu = process.cpuUsage();
  reply({
    beat: { loopStallMs: Math.round(loop.max / 1e6), cpuMs: Math.round((cpu.user + cpu.system) / 1000) },
  });
  loop.reset();
}, BEAT_MS).unref();
