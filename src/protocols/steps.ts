/**
 * The round order of one protocol party: each round runs once, in order, and a round that
 * throws ends the party (its secrets are wiped by `cleanup`) with the protocol's own error
 * type, so callers only ever see typed protocol errors.
 */
export class Steps<S extends string> {
  #at: S;

  constructor(
    initial: S,
    private readonly done: S,
    private readonly failed: S,
    private readonly what: string,
    private readonly wrap: (e: unknown) => Error,
  ) {
    this.#at = initial;
  }

  get at(): S {
    return this.#at;
  }

  advance(from: S, to: S): void {
    if (this.#at !== from) throw this.wrap(new Error(`${this.what} step out of order: at ${this.#at}, asked for ${to}`));
    this.#at = to;
  }

  /** Marks the party failed unless it finished. */
  fail(): void {
    if (this.#at !== this.done) this.#at = this.failed;
  }

  run<T>(fn: () => T, cleanup: () => void): T {
    try {
      return fn();
    } catch (e) {
      cleanup();
      throw this.wrap(e);
    }
  }
}
