/** Minimal flag parsing for subcommands: `--name value`, `--name=value` and boolean `--flag`. */
export interface ParsedArgs {
  flags: Map<string, string | true>;
  positional: string[];
}

export function parseArgs(argv: readonly string[], booleans: readonly string[] = []): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (booleans.includes(arg.slice(2)) || i + 1 >= argv.length || argv[i + 1]!.startsWith("--")) {
      flags.set(arg.slice(2), true);
    } else {
      flags.set(arg.slice(2), argv[++i]!);
    }
  }
  return { flags, positional };
}

export class UsageError extends Error {}

export function stringFlag(args: ParsedArgs, name: string, fallback: string): string {
  const value = args.flags.get(name);
  if (value === undefined) return fallback;
  if (value === true) throw new UsageError(`--${name} needs a value`);
  return value;
}

export function intFlag(args: ParsedArgs, name: string, fallback: number, min = 0): number {
  const value = stringFlag(args, name, String(fallback));
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${value}"`);
  return Number(value);
}

export function rejectUnknown(args: ParsedArgs, known: readonly string[]): void {
  for (const name of args.flags.keys()) {
    if (!known.includes(name))
      throw new UsageError(`unknown flag --${name} (known: ${known.map((k) => `--${k}`).join(", ")})`);
  }
}
