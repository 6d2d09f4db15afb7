import { parseArgs, rejectUnknown, stringFlag, UsageError } from "./args.js";

interface MemberRow {
  nodeId: string;
  self: boolean;
  address: string;
  appEndpoint: string;
  state: string;
  incarnation: number;
  apps: number;
  tieline: boolean | null;
}

/** `hermes mesh members|routes [--admin http://host:7402] [--json]`: what a node knows of the mesh. */
export async function meshCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "members" && sub !== "routes")
    throw new UsageError(`unknown mesh command "${sub ?? ""}" (known: members, routes)`);
  const args = parseArgs(rest, ["json"]);
  rejectUnknown(args, ["admin", "json"]);
  const admin = stringFlag(args, "admin", "http://127.0.0.1:7402").replace(/\/$/, "");
  let response: Response;
  try {
    response = await fetch(`${admin}/mesh/${sub}`);
  } catch (error) {
    throw new UsageError(
      `cannot reach the node's admin server at ${admin}: ${(error as Error).cause ?? (error as Error).message}`,
    );
  }
  if (response.status === 404)
    throw new UsageError(`${admin} has no mesh (is mesh.tls or mesh.insecure set on that node?)`);
  const body: unknown = await response.json();
  if (args.flags.has("json") || sub === "routes") {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const rows = (body as MemberRow[]).map((m) => [
    m.nodeId + (m.self ? " *" : ""),
    m.state,
    String(m.incarnation),
    m.address,
    m.appEndpoint,
    String(m.apps),
    m.tieline === null ? "-" : m.tieline ? "up" : "down",
  ]);
  const header = ["NODE", "STATE", "INCARNATION", "MESH", "APPS AT", "APPS", "TIELINE"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
  return 0;
}
