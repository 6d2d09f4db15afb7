#!/usr/bin/env node
import { ConfigError } from "../config/index.js";
import { KeystoreError } from "../keystore/index.js";
import { TlsFileError } from "../transport/tls.js";
import { appCommand } from "./app-command.js";
import { UsageError } from "./args.js";
import { certsCommand } from "./certs-command.js";
import { demoCommand } from "./demo-command.js";
import { keystoreCommand } from "./keystore-command.js";
import { meshCommand } from "./mesh-command.js";
import { nodeCommand } from "./node-command.js";

const USAGE = `hermes <command>

  node [--config file] [--<key> value]   run a node (keys: docs/operating-a-node.md)
  keystore init --path file              create a keystore with a new node identity
  certs --out dir --node a[,b]           make a mesh CA and node certificates (mutual TLS)
  app --endpoint host:port [--chat id]   chat from the terminal
  mesh members|routes [--admin url]      what a node knows of the mesh
  demo [--nodes N] [--messages M] [--json]
                                         N nodes (a mutual-TLS mesh when N > 1) and two
                                         apps chatting end to end, then a churn step
`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  node: nodeCommand,
  keystore: keystoreCommand,
  app: appCommand,
  certs: certsCommand,
  demo: demoCommand,
  mesh: meshCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (command && (rest.includes("--help") || rest.includes("-h"))) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!command) {
    process.stderr.write(`hermes: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof TlsFileError) {
      process.stderr.write(`hermes ${name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof KeystoreError) {
      process.stderr.write(`hermes ${name}: keystore: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // A failed start may have bound ports already (e.g. a bad mesh.tls file): exit, do not linger.
    if (code !== 0) process.exit(code);
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `hermes: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    // A half-started node (a port in use) may hold servers open: leave now, not never.
    process.exit(1);
  },
);
