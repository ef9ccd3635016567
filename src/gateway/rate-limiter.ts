/**
 * A rate as operators write it: `count` per `seconds`, spent by a token bucket that holds at
 * most `count` tokens and refills `count` every `seconds`. So a client may burst `count`
 * requests and then keeps `count / seconds` per second.
 */
export interface Rate {
  count: number;
  seconds: number;
}

/** `"30/60"` (30 per 60 s); `"off"` for no limit. A malformed value stops the start. */
export function parseRate(text: string, name: string): Rate | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'off') return undefined;
  const m = /^(\d{1,9})\/(\d{1,6})$/.exec(t);
  const count = Number(m?.[1]);
  const seconds = Number(m?.[2]);
  if (!m || count < 1 || seconds < 1 || seconds > 86_400) throw new Error(`${name} must be <count>/<seconds> (e.g. 30/60, at most 86400 seconds) or off`);
  return { count, seconds };
}

/**
 * One token bucket per key (a client address, a scope id), in this process's memory. The
 * number of keys is bounded: buckets that have refilled completely carry no information and
 * are dropped, and beyond `maxKeys` the keys first seen longest ago are forgotten (a
 * forgotten key starts again with a full bucket, so memory, not the limit, is what a flood
 * of distinct addresses can take; the per-scope limits still hold for it).
 */
export class RateLimiter<K> {
  readonly #buckets = new Map<K, { tokens: number; at: number }>();
  #sweptAt: number;

  constructor(
    readonly rate: Rate,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.#sweptAt = now();
  }

  /** Spends a token of `key`; 0 when granted, else the seconds until the next token. */
  take(key: K): number {
    const t = this.now();
    this.#sweep(t);
    const perMs = this.rate.count / (this.rate.seconds * 1000);
    const b = this.#buckets.get(key) ?? { tokens: this.rate.count, at: t };
    b.tokens = Math.min(this.rate.count, b.tokens + (t - b.at) * perMs);
    b.at = t;
    if (!this.#buckets.has(key)) {
      if (this.#buckets.size >= this.maxKeys) this.#forgetOldest();
      this.#buckets.set(key, b);
    }
    if (b.tokens < 1) return Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
    b.tokens -= 1;
    return 0;
  }

  /** Keys tracked now (for tests). */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(t: number): void {
    if (t - this.#sweptAt < 10_000) return;
    this.#sweptAt = t;
    const perMs = this.rate.count / (this.rate.seconds * 1000);
    for (const [k, b] of this.#buckets) if (b.tokens + (t - b.at) * perMs >= this.rate.count) this.#buckets.delete(k);
  }

  #forgetOldest(): void {
    let n = Math.max(1, Math.floor(this.maxKeys / 10));
    for (const k of this.#buckets.keys()) {
      if (n-- <= 0) break;
      this.#buckets.delete(k);
    }
  }
}
