/** What one source found. Failures come back here rather than as rejections. */
export interface SourceResult {
  /** Mesh endpoints "host:port" ("[v6]:port"); may be partial when `error` is set. */
  peers: string[];
  error?: Error;
}

/** One place seed peers come from: static config, DNS, the peers remembered from the last run. */
export interface PeerSource {
  /** Short name used in results and error reports: "static", "dns", "persisted". */
  readonly name: string;
  /** Should not reject; `Discovery` still guards against it. */
  resolve(): Promise<SourceResult>;
}

/** A discovery failure; `source` says which source failed. Never fatal to the mesh. */
export class DiscoveryError extends Error {
  override readonly name = "DiscoveryError";

  constructor(
    message: string,
    readonly source: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
