/**
 * Where a node keeps its secrets: its identity and the per-chat records. Values are opaque
 * bytes; a backend seals them at rest. Reads and writes are in memory; flush() persists.
 */
export interface KeyBackend {
  /** A copy of the value (the caller may zero it), or undefined when absent. */
  get(name: string): Uint8Array | undefined;
  /** Stores a copy of value. Persisted by the next flush(). */
  put(name: string, value: Uint8Array): void;
  /** Removes and zeroes the entry; true when it existed. Persisted by the next flush(). */
  delete(name: string): boolean;
  /** Entry names starting with prefix, sorted. */
  list(prefix?: string): string[];
  /** True when there are changes not yet persisted. */
  readonly dirty: boolean;
  /** Persists all changes atomically; a crash leaves either the old or the new state. */
  flush(): Promise<void>;
  /** Flushes, then zeroes every secret held in memory. The backend is unusable afterwards. */
  close(): Promise<void>;
}
