/** Small statistics helpers: the bench reports medians and tail latencies, never means. */

/** The p-th percentile (0..100) of `xs`, linearly interpolated between closest ranks. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export interface Summary {
  n: number;
  median: number;
  p95: number;
}

export function summarize(xs: readonly number[]): Summary {
  return { n: xs.length, median: percentile(xs, 50), p95: percentile(xs, 95) };
}

/** Runs `fn` `warmup` times untimed (JIT, caches, pooled sockets), then `iterations` times timed. */
export function timeSync(warmup: number, iterations: number, fn: () => void): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}
