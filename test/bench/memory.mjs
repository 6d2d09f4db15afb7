// Node memory per idle session and per idle chat, from the heap after a full GC.
import { spawnNode } from "../../node/dist/cli/spawn-node.js";
import { HermesClient, Identity } from "../../node/dist/index.js";
import { generous, log, sleep } from "./util.mjs";

export async function memory({ sessions, chats }) {
  log("memory ...");
  const node = await spawnNode({
    flags: [...generous, "--limits.maxSessions=1000000"],
    nodeArgs: ["--expose-gc"],
  });
  const heap = async () => {
    const samples = [];
    for (let i = 0; i < 3; i++) {
      samples.push((await (await fetch(`${node.adminUrl}/debug/gc`)).json()).heapUsed);
      await sleep(200);
    }
    return Math.min(...samples);
  };
  const apps = [];
  try {
    const base = await heap();
    for (let i = 0; i < sessions; i += 100) {
      const batch = Array.from(
        { length: Math.min(100, sessions - i) },
        () =>
          new HermesClient({ endpoint: node.appEndpoint, identity: Identity.generate(), timeoutMs: 60_000 }),
      );
      for (const app of batch) app.on("offer", (offer) => void offer.accept());
      await Promise.all(batch.map((app) => app.connect()));
      apps.push(...batch);
    }
    const withSessions = await heap();
    log(`  ${sessions} sessions up`);
    for (let i = 0; i < chats; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, chats - i) }, (_, k) => {
          const n = i + k;
          const from = apps[n % sessions];
          const to = apps[(n + 1 + Math.floor(n / sessions)) % sessions];
          return from.startChat(to.appId);
        }),
      );
    }
    const withChats = await heap();
    log(`  ${chats} chats up`);
    return {
      sessions,
      chats,
      bytesPerSession: Math.round((withSessions - base) / sessions),
      bytesPerChat: Math.round((withChats - withSessions) / chats),
      heapBaseBytes: base,
    };
  } finally {
    await Promise.all(apps.map((app) => app.close()));
    await node.stop();
  }
}
