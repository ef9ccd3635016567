/**
 * Work that runs at most `maxTotal` at once in all and `maxPerKey` at once per key (a user,
 * a scope). `enter` takes a place at once or says which bound is full: callers answer
 * with a fast refusal, never a queue that would hold them until their clients give up.
 */
export class NestedSlots<K> {
  #total = 0;
  readonly #perKey = new Map<K, number>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerKey: number,
  ) {}

  /** Places taken now. */
  get running(): number {
    return this.#total;
  }

  /** A function to call once, when the work is over; or which bound refused it. */
  enter(key: K): (() => void) | 'total' | 'key' {
    const mine = this.#perKey.get(key) ?? 0;
    if (this.#total >= this.maxTotal) return 'total';
    if (mine >= this.maxPerKey) return 'key';
    this.#total += 1;
    this.#perKey.set(key, mine + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#total -= 1;
      const n = (this.#perKey.get(key) ?? 1) - 1;
      if (n > 0) this.#perKey.set(key, n);
      else this.#perKey.delete(key);
    };
  }
}
