import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

/**
 * A small lab of Linux network namespaces for mesh tests (needs root):
 *
 *   root namespace  hx<pid>-<n> 10.231.S.254 ──┐
 *   <lab>-n0        eth0        10.231.S.11  ──┤  br0 in <lab>-br
 *   <lab>-n1        eth0        10.231.S.12  ──┤  (one veth pair per host)
 *   <lab>-n2        eth0        10.231.S.13  ──┘
 *
 * Each host namespace has loopback up and one veth into a bridge that lives in its own
 * namespace; the root namespace gets an address on the bridge so the test process can reach
 * every host's ports. S is a /24 not routed in the root namespace yet. Namespace names carry the
 * test process's PID, so a lab left behind by a killed run is removed by the next one.
 *
 * Faults: partition() drops traffic between groups of hosts with iptables in their namespaces
 * (silently, at the receiver, so senders see a black hole rather than errors; the root
 * namespace stays connected to everyone, so the test can watch both sides); impair() adds loss
 * and delay to a host's egress with tc netem, or, on kernels without sch_netem, with a
 * userspace stand-in (an NFQUEUE listener in Python that delays and drops packets).
 */

const run = promisify(execFile);
const PREFIX = "hxit";
let labs = 0;

export interface LabHost {
  /** Network namespace name. */
  ns: string;
  ip: string;
  /** Runs a program inside this namespace, e.g. `spawnNode({ wrapper: host.wrapper })`. */
  wrapper: string[];
}

export interface Impairment {
  /** "netem" (tc qdisc) or "nfqueue" (userspace stand-in). */
  via: "netem" | "nfqueue";
  /** Packets the stand-in delayed and dropped so far (zero for netem, which keeps no such count here). */
  stats(): Promise<{ delayed: number; dropped: number }>;
  /** Back to a clean link. */
  remove(): Promise<void>;
}

export interface Lab {
  name: string;
  hosts: LabHost[];
  /** The root namespace's address on the lab bridge. */
  rootIp: string;
  /** Drops all traffic between the hosts of `a` and those of `b` (both directions). */
  partition(a: LabHost[], b: LabHost[]): Promise<void>;
  /** Undoes every partition. */
  heal(): Promise<void>;
  /** Loss (percent) and delay (ms) on everything `host` sends. */
  impair(host: LabHost, o: { lossPercent: number; delayMs: number }): Promise<Impairment>;
  /** Removes every namespace and link of the lab (and stops what still runs in them). */
  destroy(): Promise<void>;
}

/** Where a system tool lives: PATH, then the sbin folders a normal user's PATH may lack. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

function tool(name: string): string {
  const path = findTool(name);
  if (!path)
    throw new Error(
      `${name} not found: run hack/install-deps.sh (Debian packages iproute2, iptables, python3)`,
    );
  return path;
}

/** Fails (never skips) with what is missing: root, ip, iptables, and python3 when the kernel lacks netem. */
export function requireNetnsTools(): void {
  if (process.getuid?.() !== 0)
    throw new Error("network namespace tests need root (ip netns, veth, iptables); run them as root");
  for (const name of ["ip", "iptables"]) tool(name);
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(tool(cmd), args, { timeout: 10_000 })).stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${(e.stderr || e.message).trim()}`);
  }
}

const ip = (...args: string[]) => sh("ip", args);
const inNs = (ns: string, cmd: string, ...args: string[]) =>
  sh("ip", ["netns", "exec", ns, tool(cmd), ...args]);

/** Namespaces of earlier runs whose process is gone: stop what runs in them and delete them. */
async function sweepStaleLabs(): Promise<void> {
  const listed = await ip("netns", "list");
  for (const line of listed.split("\n")) {
    const ns = line.split(" ")[0] ?? "";
    const match = new RegExp(`^${PREFIX}-(\\d+)-`).exec(ns);
    if (!match || isAlive(Number(match[1]))) continue;
    await deleteNamespace(ns);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function deleteNamespace(ns: string): Promise<void> {
  const pids = await ip("netns", "pids", ns).catch(() => "");
  for (const pid of pids.split("\n").filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
  await ip("netns", "delete", ns).catch(() => undefined);
}

/** A /24 in 10.231.0.0/16 that the root namespace neither routes nor has addresses in. */
async function freeSubnet(): Promise<string> {
  const used = await ip("-4", "route", "show", "table", "all");
  const start = Math.floor(Math.random() * 250);
  for (let i = 0; i < 250; i++) {
    const third = (start + i) % 250;
    if (!used.includes(`10.231.${third}.`)) return `10.231.${third}`;
  }
  throw new Error("no free /24 in 10.231.0.0/16 for the network namespace lab");
}

/** Creates `count` host namespaces on one bridge, reachable from the root namespace. */
export async function createLab(count: number): Promise<Lab> {
  requireNetnsTools();
  await sweepStaleLabs();
  const name = `${PREFIX}-${process.pid}-${++labs}`;
  const rootLink = `hx${process.pid}-${labs}`.slice(0, 15);
  const bridgeNs = `${name}-br`;
  const namespaces: string[] = [];
  const impairments: Impairment[] = [];
  const hosts: LabHost[] = [];
  let rootIp = "";

  const destroy = async () => {
    for (const i of impairments.splice(0)) await i.remove().catch(() => undefined);
    for (const ns of namespaces.splice(0).reverse()) await deleteNamespace(ns);
    // Gone with its peer's namespace; deleted here too in case that failed.
    await ip("link", "delete", rootLink).catch(() => undefined);
  };

  try {
    const subnet = await freeSubnet();
    rootIp = `${subnet}.254`;
    await ip("netns", "add", bridgeNs);
    namespaces.push(bridgeNs);
    await ip("-n", bridgeNs, "link", "add", "br0", "type", "bridge");
    await ip("-n", bridgeNs, "link", "set", "br0", "up");
    await ip("-n", bridgeNs, "link", "set", "lo", "up");
    // The root namespace's leg: its end stays here, the other joins the bridge.
    await ip("link", "add", rootLink, "type", "veth", "peer", "name", "root", "netns", bridgeNs);
    await plug(bridgeNs, "root");
    await ip("addr", "add", `${rootIp}/24`, "dev", rootLink);
    await ip("link", "set", rootLink, "up");

    for (let i = 0; i < count; i++) {
      const ns = `${name}-n${i}`;
      const hostIp = `${subnet}.${11 + i}`;
      await ip("netns", "add", ns);
      namespaces.push(ns);
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip(
        "link",
        "add",
        "eth0",
        "netns",
        ns,
        "type",
        "veth",
        "peer",
        "name",
        `p${i}`,
        "netns",
        bridgeNs,
      );
      await plug(bridgeNs, `p${i}`);
      await ip("-n", ns, "addr", "add", `${hostIp}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      // A chain of our own, so heal() can flush partitions without touching anything else.
      await inNs(ns, "iptables", "-N", "HX-PARTITION");
      await inNs(ns, "iptables", "-A", "INPUT", "-j", "HX-PARTITION");
      hosts.push({ ns, ip: hostIp, wrapper: [tool("ip"), "netns", "exec", ns] });
    }
  } catch (error) {
    await destroy();
    throw error;
  }

  return {
    name,
    hosts,
    rootIp,
    async partition(a, b) {
      // Dropped where they arrive: a sender's packets vanish on the wire, as in a real partition.
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        for (const receiver of to)
          for (const sender of from)
            await inNs(receiver.ns, "iptables", "-A", "HX-PARTITION", "-s", sender.ip, "-j", "DROP");
      }
    },
    async heal() {
      for (const host of hosts) await inNs(host.ns, "iptables", "-F", "HX-PARTITION");
    },
    async impair(host, o) {
      const impairment = await impair(host, o);
      impairments.push(impairment);
      return {
        ...impairment,
        remove: async () => {
          const index = impairments.indexOf(impairment);
          if (index >= 0) impairments.splice(index, 1);
          await impairment.remove();
        },
      };
    },
    destroy,
  };
}

async function plug(bridgeNs: string, port: string): Promise<void> {
  await ip("-n", bridgeNs, "link", "set", port, "master", "br0");
  await ip("-n", bridgeNs, "link", "set", port, "up");
}

let queues = 0;

async function impair(host: LabHost, o: { lossPercent: number; delayMs: number }): Promise<Impairment> {
  const netem = ["qdisc", "add", "dev", "eth0", "root", "netem", "loss", `${o.lossPercent}%`];
  try {
    await inNs(host.ns, "tc", ...netem, "delay", `${o.delayMs}ms`);
    return {
      via: "netem",
      stats: async () => ({ delayed: 0, dropped: 0 }),
      remove: async () => void (await inNs(host.ns, "tc", "qdisc", "del", "dev", "eth0", "root")),
    };
  } catch (error) {
    if (!/unknown|not found|No such file/i.test((error as Error).message)) throw error;
  }
  // No sch_netem in this kernel: queue the host's outgoing packets to a userspace process that
  // holds each for delayMs (in order) and drops lossPercent of them.
  const python = findTool("python3");
  if (!python)
    throw new Error(
      "this kernel has no netem (sch_netem) and python3 is missing for the userspace stand-in: " +
        "run hack/install-deps.sh (Debian package python3)",
    );
  const queue = 100 + (++queues % 1000);
  const child = spawn(
    tool("ip"),
    ["netns", "exec", host.ns, python, "-c", NFQUEUE_NETEM, `${queue}`, `${o.delayMs}`, `${o.lossPercent}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d));
  child.stderr.on("data", (d: Buffer) => (output += d));
  await waitForLine(child, () => output, "ready");
  const rule = ["OUTPUT", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", `${queue}`];
  await inNs(host.ns, "iptables", "-A", ...rule);
  const stats = async () => {
    const before = output.length;
    child.kill("SIGUSR1");
    await waitForLine(child, () => output.slice(before), "stats");
    const match = /stats (\d+) delayed (\d+) dropped/.exec(output.slice(before))!;
    return { delayed: Number(match[1]), dropped: Number(match[2]) };
  };
  return {
    via: "nfqueue",
    stats,
    remove: async () => {
      await inNs(host.ns, "iptables", "-D", ...rule).catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

async function waitForLine(child: ChildProcess, text: () => string, line: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!text().includes(line)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline)
      throw new Error(`netem stand-in did not print "${line}": ${text()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * netem's "delay D loss L" for one queue, in userspace: binds NFQUEUE <queue> over netlink,
 * copies packet metadata only, drops L% of packets at once and accepts the rest D ms after they
 * arrived, in arrival order. SIGUSR1 prints the counts; SIGTERM exits (the kernel then drops
 * what is still queued, so remove the iptables rule first).
 */
const NFQUEUE_NETEM = `
import collections, os, select, signal, socket, struct, sys, time, random
queue, delay, loss = int(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3]) / 100
QUEUE = 3 << 8  # NFNL_SUBSYS_QUEUE
PACKET, VERDICT, CONFIG, NLMSG_ERROR = 0, 1, 2, 2
REQUEST, ACK, DROP, ACCEPT = 1, 4, 0, 1

sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sock.bind((0, 0))

def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + bytes(-size % 4)

def send(kind, payload, flags=REQUEST):
    body = struct.pack("!BBH", socket.AF_UNSPEC, 0, queue) + payload
    sock.send(struct.pack("=IHHII", 16 + len(body), QUEUE | kind, flags, 0, 0) + body)

def configure(payload):
    send(CONFIG, payload, REQUEST | ACK)
    reply = sock.recv(65536)
    if struct.unpack_from("=H", reply, 4)[0] == NLMSG_ERROR:
        err = struct.unpack_from("=i", reply, 16)[0]
        if err:
            sys.exit("nfqueue %d: %s" % (queue, os.strerror(-err)))

configure(attr(1, struct.pack("!BBH", 1, 0, socket.AF_INET)))  # CFG_CMD: BIND
configure(attr(2, struct.pack("!IB", 0, 1)))  # CFG_PARAMS: COPY_META

counts = [0, 0]
signal.signal(signal.SIGUSR1, lambda *_: print("stats %d delayed %d dropped" % tuple(counts), flush=True))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)

held = collections.deque()
while True:
    timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
    try:
        readable = select.select([sock], [], [], timeout)[0]
    except InterruptedError:
        continue
    if readable:
        try:
            data = sock.recv(1 << 20)
        except OSError:
            data = b""  # ENOBUFS: the kernel dropped some, which is more loss
        at = 0
        while at + 16 <= len(data):
            size, kind = struct.unpack_from("=IH", data, at)
            a = at + 20
            while kind == QUEUE | PACKET and a + 4 <= at + size:
                alen, atype = struct.unpack_from("=HH", data, a)
                if atype & 0x7FFF == 1:  # NFQA_PACKET_HDR: the packet id first
                    packet = struct.unpack_from("!I", data, a + 4)[0]
                    if random.random() < loss:
                        counts[1] += 1
                        send(VERDICT, attr(2, struct.pack("!II", DROP, packet)))
                    else:
                        counts[0] += 1
                        held.append((time.monotonic() + delay, packet))
                a += (alen + 3) & ~3
            at += (size + 3) & ~3
    now = time.monotonic()
    while held and held[0][0] <= now:
        send(VERDICT, attr(2, struct.pack("!II", ACCEPT, held.popleft()[1])))
`;
