/**
 * Time and timers, injected so that every timer-bearing class (state machines and their shells
 * alike) runs under the one FakeClock in tests. Timers return a function that cancels them.
 */
export interface Clock {
  /** Epoch milliseconds. State machines only compare them; persisted marks outlive the process. */
  now(): number;
  setTimeout(fn: () => void, ms: number): () => void;
  setInterval(fn: () => void, ms: number): () => void;
}

/** Real time. Timers are unref'd: a pending timer never keeps a stopping process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return () => clearTimeout(handle);
  },
  setInterval(fn, ms) {
    const handle = setInterval(fn, ms);
    handle.unref();
    return () => clearInterval(handle);
  },
};
