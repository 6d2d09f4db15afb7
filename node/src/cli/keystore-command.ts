import { DEFAULT_KDF, initKeystore, readPassphrase } from "../keystore/index.js";
import { intFlag, parseArgs, rejectUnknown, stringFlag, UsageError } from "./args.js";

/** `hermes keystore init --path <file> [--passphrase-file <file>]`; the passphrase may also come from the environment. */
export async function keystoreCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "init") throw new UsageError(`unknown keystore command "${sub ?? ""}" (known: init)`);
  const args = parseArgs(rest);
  rejectUnknown(args, ["path", "passphrase-env", "passphrase-file", "memory-kib", "iterations"]);
  const env = stringFlag(args, "passphrase-env", "HERMES_KEYSTORE_PASSPHRASE");
  const passphrase = readPassphrase({ env, file: stringFlag(args, "passphrase-file", "") });
  if (!passphrase) throw new UsageError(`no passphrase: set ${env} or pass --passphrase-file`);
  try {
    const { nodeId, path } = await initKeystore({
      path: stringFlag(args, "path", "hermes-data/keystore.json"),
      passphrase,
      kdf: {
        memoryKiB: intFlag(args, "memory-kib", DEFAULT_KDF.memoryKiB, 8),
        iterations: intFlag(args, "iterations", DEFAULT_KDF.iterations, 1),
        parallelism: DEFAULT_KDF.parallelism,
      },
    });
    process.stdout.write(`${JSON.stringify({ keystore: path, nodeId })}\n`);
    return 0;
  } finally {
    passphrase.fill(0);
  }
}
