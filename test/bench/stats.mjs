/** Runs `total` operations keeping at most `window` in flight; returns throughput and latency percentiles. */
export async function pipeline(total, window, op) {
  const latencies = new Float64Array(total);
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const launch = () => {
      while (started < total && started - done < window) {
        const i = started++;
        const at = performance.now();
        op(i).then(() => {
          latencies[i] = performance.now() - at;
          done++;
          if (done === total) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  const elapsedMs = performance.now() - t0;
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return {
    messages: total,
    window,
    messagesPerSecond: Math.round((total / elapsedMs) * 1000),
    p50Ms: round(pct(50)),
    p99Ms: round(pct(99)),
  };
}

export const round = (x, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export function ratio(a, b) {
  return b === 0 ? null : round(a / b, 2);
}
