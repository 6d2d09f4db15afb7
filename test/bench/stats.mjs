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
  return {
    messages: total,
    window,
    messagesPerSecond: Math.round((total / elapsedMs) * 1000),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
  };
}

export const round = (x, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export function ratio(a, b) {
  return b === 0 || a === null || b === null ? null : round(a / b, 2);
}

/** Nearest-rank percentile of an ascending array (with few samples, p99 is the maximum). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Count, median, p99, min and max of a list of durations in milliseconds. */
export function summarize(values) {
  const sorted = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  return {
    n: sorted.length,
    medianMs: sorted.length === 0 ? null : round(median(sorted), 1),
    p99Ms: percentile(sorted, 99),
    minMs: sorted[0] ?? null,
    maxMs: sorted.at(-1) ?? null,
  };
}

function median(sorted) {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
