import { mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, configKeys, defaultConfig, envNameFor, loadConfig } from "../../src/config/index.js";
import { parseHostPort } from "../../src/utils/host-port.js";

const cwd = "/srv/hermes";
const load = (argv: string[] = [], env: Record<string, string> = {}) => loadConfig({ argv, env, cwd });
const fails = (argv: string[], env: Record<string, string> = {}) => {
  try {
    load(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};
const yamlFile = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), "hermes-config-")), "hermes.yaml");
  writeFileSync(file, text);
  return file;
};

describe("config defaults", () => {
  it("load and validate with no config at all, with derived values resolved", () => {
    const config = load();
    const defaults = defaultConfig();
    expect(config.listen).toEqual({ app: "0.0.0.0:7400", admin: "0.0.0.0:7402" });
    expect(config.limits).toEqual(defaults.limits);
    expect(config.timeouts).toEqual(defaults.timeouts);
    expect(config.dataDir).toBe("/srv/hermes/hermes-data");
    expect(config.keystore.path).toBe("/srv/hermes/hermes-data/keystore.json");
    expect(config.keystore.passphraseFile).toBe("");
    // A wildcard listen address is advertised under this host's name.
    expect(config.advertiseApp).toBe(`${hostname()}:7400`);
    expect(config.mesh.advertise).toBe(`${hostname()}:7401`);
    expect(config.nodeName).toBe(defaults.nodeName);
    expect(config.log.level).toBe("info");
  });

  it("derives advertiseApp from listen.app and keeps explicit paths", () => {
    const config = load(["--listen.app", "10.0.0.1:9000", "--keystore.path=ks.json", "--dataDir=/data"], {
      HERMES_KEYSTORE_PASSPHRASE_FILE: "secrets/pass",
    });
    expect(config.advertiseApp).toBe("10.0.0.1:9000");
    expect(config.dataDir).toBe("/data");
    expect(config.keystore.path).toBe("/srv/hermes/ks.json");
    expect(config.keystore.passphraseFile).toBe("/srv/hermes/secrets/pass");
    expect(load(["--advertiseApp=hermes.example:443"]).advertiseApp).toBe("hermes.example:443");
  });

  it("lists keys and their environment names", () => {
    const keys = configKeys();
    expect(keys).toContain("limits.maxFrameBytes");
    expect(keys).toContain("keystore.kdf.memoryKiB");
    expect(keys).toHaveLength(73);
    expect(keys).toContain("mesh.membership.probeIntervalMs");
    expect(envNameFor("limits.maxFrameBytes")).toBe("HERMES_LIMITS_MAX_FRAME_BYTES");
    expect(envNameFor("listen.app")).toBe("HERMES_LISTEN_APP");
    expect(envNameFor("log.level")).toBe("HERMES_LOG_LEVEL");
    expect(envNameFor("keystore.kdf.memoryKiB")).toBe("HERMES_KEYSTORE_KDF_MEMORY_KIB");
    expect(new Set(keys.map(envNameFor)).size).toBe(keys.length);
  });
});

describe("config precedence", () => {
  const file = yamlFile(
    "limits:\n  maxFrameBytes: 100000\n  maxSessions: 5\n  messageBurst: 7\nlog:\n  level: debug\nnodeName: from-file\n",
  );

  it("applies file < env < flags", () => {
    const env = { HERMES_CONFIG: file, HERMES_LIMITS_MAX_SESSIONS: "6", HERMES_LIMITS_MESSAGE_BURST: "8" };
    const config = load(["--limits.messageBurst", "9"], env);
    expect(config.limits.maxFrameBytes).toBe(100000); // file
    expect(config.limits.maxSessions).toBe(6); // env over file
    expect(config.limits.messageBurst).toBe(9); // flag over env
    expect(config.log.level).toBe("debug");
    expect(config.nodeName).toBe("from-file");
  });

  it("takes --config over HERMES_CONFIG, --set like other flags, and the last flag wins", () => {
    const other = yamlFile("nodeName: other\n");
    const config = load([`--config=${other}`, "--set", "limits.maxSessions=3", "--limits.maxSessions=4"], {
      HERMES_CONFIG: file,
    });
    expect(config.nodeName).toBe("other");
    expect(config.limits.maxSessions).toBe(4);
    expect(load(["--config", file, "--set=log.level=warn"]).log.level).toBe("warn");
  });

  it("reads an empty file as no settings", () => {
    expect(load(["--config", yamlFile("")]).limits).toEqual(defaultConfig().limits);
  });

  it("only validates the winning value", () => {
    const config = load(["--limits.maxFrameBytes=1024", "--limits.maxCiphertextBytes=512"], {
      HERMES_LIMITS_MAX_FRAME_BYTES: "abc",
    });
    expect(config.limits.maxFrameBytes).toBe(1024);
  });

  it("ignores the passphrase variable, whatever it is called", () => {
    expect(() => load([], { HERMES_KEYSTORE_PASSPHRASE: "hunter2", HERMES_CONFIG: "" })).not.toThrow();
    expect(() =>
      load([], { HERMES_KEYSTORE_PASSPHRASE_ENV: "HERMES_KEYSTORE_PW", HERMES_KEYSTORE_PW: "hunter2" }),
    ).not.toThrow();
    expect(() => load([], { HERMES_OTHER_TOOL: "x", PATH: "/bin" })).not.toThrow();
  });
});

describe("config coercion errors name the key and the source", () => {
  it("rejects non-integers from the environment", () => {
    expect(fails([], { HERMES_LIMITS_MAX_FRAME_BYTES: "abc" })).toBe(
      'invalid config: limits.maxFrameBytes from HERMES_LIMITS_MAX_FRAME_BYTES: expected a positive integer, got "abc"',
    );
    expect(fails([], { HERMES_LIMITS_MAX_SESSIONS: "12abc" })).toContain(
      "limits.maxSessions from HERMES_LIMITS_MAX_SESSIONS: expected a positive integer",
    );
  });

  it("rejects bad numbers from flags", () => {
    expect(fails(["--timeouts.chatIdleMs=-5"])).toContain("timeouts.chatIdleMs from --timeouts.chatIdleMs:");
    expect(fails(["--timeouts.chatIdleMs", "1.5"])).toContain('got "1.5"');
    expect(fails(["--set", "limits.messageBurst=0"])).toContain(
      "limits.messageBurst from --set limits.messageBurst: expected a positive integer",
    );
    expect(fails(["--timeouts.sweepIntervalMs=0"])).toContain("timeouts.sweepIntervalMs");
    expect(fails(["--keystore.kdf.iterations=0"])).toContain("keystore.kdf.iterations");
  });

  it("rejects wrong types from the file, with its line", () => {
    const file = yamlFile("log:\n  level: info\nlimits:\n  maxChatsPerApp: many\n");
    expect(fails(["--config", file])).toBe(
      `invalid config: limits.maxChatsPerApp from ${file}:4: expected a positive integer, got "many"`,
    );
    const listFile = yamlFile("listen:\n  app: [1, 2]\n");
    expect(fails(["--config", listFile])).toContain(
      `listen.app from ${listFile}:2: expected a string, got [1,2]`,
    );
    const nullFile = yamlFile("dataDir:\n");
    expect(fails(["--config", nullFile])).toContain("dataDir from");
  });

  it("rejects an unknown log level", () => {
    expect(fails([], { HERMES_LOG_LEVEL: "loud" })).toContain(
      "log.level from HERMES_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent",
    );
  });
});

describe("config unknown keys", () => {
  it("rejects an unknown YAML key with its line and a suggestion", () => {
    const file = yamlFile("limits:\n  maxFrameByte: 10\n");
    expect(fails(["--config", file])).toBe(
      `invalid config: unknown key limits.maxFrameByte in ${file}:2 (did you mean limits.maxFrameBytes?)`,
    );
    expect(fails(["--config", yamlFile("mesh:\n  seeds: []\n")])).toContain("unknown key mesh");
    expect(fails(["--config", yamlFile("limits: 5\n")])).toContain("limits in");
  });

  it("rejects unknown HERMES_ variables under a known section", () => {
    expect(fails([], { HERMES_LIMITS_MAX_FRAME_BYTE: "1" })).toBe(
      "invalid config: unknown environment variable HERMES_LIMITS_MAX_FRAME_BYTE (did you mean HERMES_LIMITS_MAX_FRAME_BYTES?)",
    );
    expect(fails([], { HERMES_TIMEOUTS_FOO: "1" })).toContain("HERMES_TIMEOUTS_FOO");
  });

  it("rejects unknown flags and stray arguments", () => {
    expect(fails(["--limits.maxFrameByte=1"])).toBe(
      "invalid config: unknown flag --limits.maxFrameByte (did you mean --limits.maxFrameBytes?)",
    );
    expect(fails(["--set", "limits.nope=1"])).toContain("--set unknown key limits.nope");
    expect(fails(["--set", "limits.maxFrameBytes"])).toContain("--set expects path=value");
    expect(fails(["--nodeName"])).toContain("flag --nodeName needs a value");
    expect(fails(["--nodeName", "a", "stray"])).toBe('invalid config: unexpected argument "stray"');
  });

  it("names the file and line of a YAML syntax error", () => {
    const file = yamlFile("limits:\n  maxFrameBytes: 1\n  maxSessions: [1,\nlog: {\n");
    expect(fails(["--config", file])).toMatch(
      new RegExp(`^invalid config: cannot parse config file ${file} at line \\d+, column \\d+: `),
    );
    const dup = yamlFile("nodeName: a\nnodeName: b\n");
    expect(fails(["--config", dup])).toBe(
      `invalid config: cannot parse config file ${dup} at line 2, column 1: Map keys must be unique`,
    );
  });

  it("names a config file that cannot be read", () => {
    expect(fails([], { HERMES_CONFIG: "/nonexistent/hermes.yaml" })).toContain(
      "cannot read config file /nonexistent/hermes.yaml (from HERMES_CONFIG)",
    );
  });
});

describe("host:port", () => {
  it("parses names, IPs, brackets and empty hosts", () => {
    expect(parseHostPort("0.0.0.0:7400")).toEqual({ host: "0.0.0.0", port: 7400 });
    expect(parseHostPort(":0")).toEqual({ host: "", port: 0 });
    expect(parseHostPort("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
    expect(parseHostPort("hermes-0.hermes.svc.cluster.local:7400").host).toBe(
      "hermes-0.hermes.svc.cluster.local",
    );
  });

  it.each(["7400", "host:", "host:65536", "host:12a", "::1:7400", "[nope]:1", "bad host:1", "999.1.1.1:1"])(
    "rejects %s",
    (value) => {
      expect(() => parseHostPort(value)).toThrow();
    },
  );

  it("validates listen and advertise addresses with the key named", () => {
    expect(fails([], { HERMES_LISTEN_ADMIN: "localhost" })).toContain(
      'listen.admin from HERMES_LISTEN_ADMIN: expected host:port, got "localhost"',
    );
    expect(fails(["--advertiseApp=::1:7400"])).toContain(
      "advertiseApp from --advertiseApp: IPv6 addresses need brackets",
    );
    expect(load(["--listen.app", "127.0.0.1:0"]).listen.app).toBe("127.0.0.1:0");
  });
});

describe("config cross-field rules", () => {
  it("requires maxCiphertextBytes < maxFrameBytes", () => {
    expect(fails(["--limits.maxFrameBytes=1024"])).toBe(
      "invalid config: limits.maxCiphertextBytes (65536, from default) must be less than limits.maxFrameBytes (1024, from --limits.maxFrameBytes)",
    );
  });

  it("requires framesPerSecond ≥ messagesPerSecond", () => {
    expect(fails(["--limits.messagesPerSecond=5000"])).toBe(
      "invalid config: limits.framesPerSecond (2000, from default) must be at least limits.messagesPerSecond (5000, from --limits.messagesPerSecond)",
    );
  });

  it("requires heartbeatIntervalMs < sessionIdleMs", () => {
    expect(fails([], { HERMES_TIMEOUTS_SESSION_IDLE_MS: "30000" })).toContain(
      "timeouts.heartbeatIntervalMs (30000, from default) must be less than timeouts.sessionIdleMs (30000, from HERMES_TIMEOUTS_SESSION_IDLE_MS)",
    );
  });

  it("bounds connections per address by the total, and the TLS handshake by the idle timeout", () => {
    expect(fails(["--limits.maxConnections=10", "--limits.maxConnectionsPerAddress=11"])).toBe(
      "invalid config: limits.maxConnectionsPerAddress (11, from --limits.maxConnectionsPerAddress) must not exceed limits.maxConnections (10, from --limits.maxConnections)",
    );
    expect(fails([], { HERMES_MESH_MAX_CONNECTIONS: "32" })).toContain(
      "mesh.maxConnectionsPerAddress (64, from default) must not exceed mesh.maxConnections (32, from HERMES_MESH_MAX_CONNECTIONS)",
    );
    expect(fails(["--mesh.tlsHandshakeTimeoutMs=30000"])).toContain(
      "mesh.tlsHandshakeTimeoutMs (30000, from --mesh.tlsHandshakeTimeoutMs) must be less than mesh.connectionIdleMs (30000, from default)",
    );
    expect(fails(["--timeouts.connectionIdleMs=0"])).toContain("timeouts.connectionIdleMs");
    expect(fails(["--limits.maxConnections=0"])).toContain("limits.maxConnections");
    // No reserve at all is allowed: the operator takes the risk.
    expect(load(["--limits.reservedFileDescriptors=0"]).limits.reservedFileDescriptors).toBe(0);
  });

  it("requires a burst of at least one and a non-zero sweep interval", () => {
    expect(fails([], { HERMES_LIMITS_MESSAGE_BURST: "0" })).toContain("limits.messageBurst");
    expect(fails([], { HERMES_TIMEOUTS_SWEEP_INTERVAL_MS: "0" })).toContain("timeouts.sweepIntervalMs");
  });
});

describe("mesh config", () => {
  const load = (argv: string[], env: Record<string, string> = {}) => loadConfig({ argv, env, cwd: "/srv" });

  it("takes peers as a comma-separated list and booleans as words", () => {
    const config = load(["--mesh.peers=a:7401, b:7401", "--mesh.insecure=true"]);
    expect(config.mesh.peers).toEqual(["a:7401", "b:7401"]);
    expect(config.mesh.insecure).toBe(true);
    expect(() => load(["--mesh.insecure=yes"])).toThrow(
      /mesh\.insecure from --mesh\.insecure: expected true or false/,
    );
  });

  it("refuses peers without TLS unless insecure is explicit", () => {
    expect(() => load([], { HERMES_MESH_PEERS: "a:7401" })).toThrow(/no TLS.*hermes certs/);
    expect(() => load(["--mesh.tls.cert=c.pem"])).toThrow(/needs all of cert, key and ca/);
    const tls = load([
      "--mesh.tls.cert=c.pem",
      "--mesh.tls.key=k.pem",
      "--mesh.tls.ca=ca.pem",
      "--mesh.peers=a:1",
    ]);
    expect(tls.mesh.tls.cert).toBe("/srv/c.pem");
  });

  it("validates membership timers and peer addresses", () => {
    expect(() => load(["--mesh.membership.probeIntervalMs=0"])).toThrow(/probeIntervalMs.*positive integer/);
    expect(() => load(["--mesh.membership.probeTimeoutMs=2000"])).toThrow(
      /probeTimeoutMs .* must be less than/,
    );
    expect(() => load(["--mesh.insecure=true", "--mesh.peers=nope"])).toThrow(/mesh\.peers/);
    expect(load(["--mesh.membership.indirectProbes=0"]).mesh.membership.indirectProbes).toBe(0);
  });
});
