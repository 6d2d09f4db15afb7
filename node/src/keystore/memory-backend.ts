import type { KeyBackend } from "./backend.js";

/**
 * A KeyBackend in memory, for an app's ChatStore.inMemory() and for tests. Nothing is sealed:
 * the values never leave the process. `persisted` is what the last flush() kept, so a test can
 * check what would be on disk and reopen() a fresh backend from it as a restarted process would.
 */
export class MemoryKeyBackend implements KeyBackend {
  private readonly entries = new Map<string, Uint8Array>();
  readonly persisted = new Map<string, Uint8Array>();
  flushes = 0;
  private changed = false;
  private closed = false;

  constructor(initial?: ReadonlyMap<string, Uint8Array>) {
    for (const [name, value] of initial ?? []) this.entries.set(name, Uint8Array.from(value));
  }

  get dirty(): boolean {
    return this.changed;
  }

  get(name: string): Uint8Array | undefined {
    this.check();
    const value = this.entries.get(name);
    return value ? Uint8Array.from(value) : undefined;
  }

  put(name: string, value: Uint8Array): void {
    this.check();
    this.entries.get(name)?.fill(0); // a chat's older state holds keys since used
    this.entries.set(name, Uint8Array.from(value));
    this.changed = true;
  }

  delete(name: string): boolean {
    this.check();
    const value = this.entries.get(name);
    if (!value) return false;
    value.fill(0);
    this.entries.delete(name);
    this.changed = true;
    return true;
  }

  list(prefix = ""): string[] {
    this.check();
    return [...this.entries.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  async flush(): Promise<void> {
    this.check();
    for (const value of this.persisted.values()) value.fill(0);
    this.persisted.clear();
    for (const [name, value] of this.entries) this.persisted.set(name, Uint8Array.from(value));
    this.changed = false;
    this.flushes++;
  }

  async close(): Promise<void> {
    await this.flush();
    for (const value of this.entries.values()) value.fill(0);
    this.entries.clear();
    this.closed = true;
  }

  /** A new backend holding what was last flushed, as after a restart. */
  reopen(): MemoryKeyBackend {
    return new MemoryKeyBackend(this.persisted);
  }

  /** Persisted entry names starting with prefix. */
  persistedNames(prefix = ""): string[] {
    return [...this.persisted.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  private check(): void {
    if (this.closed) throw new Error("backend is closed");
  }
}
