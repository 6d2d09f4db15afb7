import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { findTool } from "./netns.js";

/** A real dnsmasq on loopback serving a hosts file (re-read on reload) and extra records. */
export interface Dnsmasq {
  server: string;
  /** What dnsmasq printed, for error messages. */
  output(): string;
  /** True once the process is gone (it failed to start, or stopped). */
  exited(): boolean;
  /** SIGHUP: re-read the hosts file. */
  reload(): void;
  stop(): Promise<void>;
}

export async function startDnsmasq(hostsFile: string, extra: string[]): Promise<Dnsmasq> {
  const binary = findTool("dnsmasq");
  if (!binary) throw new Error("dnsmasq not found: run hack/install-deps.sh (apt-get install dnsmasq)");
  const port = await freePort(["127.0.0.1"], "both"); // dnsmasq binds UDP and TCP
  let output = "";
  const child = spawn(
    binary,
    [
      "--no-daemon",
      "--conf-file=/dev/null", // not /etc/dnsmasq.conf
      "--pid-file", // none
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv", // no upstream servers
      "--no-hosts", // not /etc/hosts
      `--addn-hosts=${hostsFile}`, // re-read on SIGHUP
      "--local=/cluster.local/", // authoritative there: unknown names are NXDOMAIN, not REFUSED
      `--user=${userInfo().username}`, // stay who we are: the temp dir is private
      "--log-facility=-",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (d: Buffer) => (output += d));
  child.stderr.on("data", (d: Buffer) => (output += d));
  child.on("error", (err) => (output += `spawn failed: ${err.message}\n`));
  const gone = () => child.exitCode !== null || child.signalCode !== null || output.includes("spawn failed");
  return {
    server: `127.0.0.1:${port}`,
    output: () => output,
    exited: gone,
    reload: () => child.kill("SIGHUP"),
    async stop() {
      if (gone()) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A port free on every host given, for TCP (and UDP with "both"). */
export async function freePort(hosts: string[], kind: "tcp" | "both"): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const free = await Promise.all(
      hosts.flatMap((host) => [tcpFree(host, port), ...(kind === "both" ? [udpFree(host, port)] : [])]),
    );
    if (free.every(Boolean)) return port;
  }
  throw new Error(`no port free on ${hosts.join(", ")}`);
}

function tcpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}
