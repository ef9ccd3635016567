import { TandemError } from '../shared/errors.js';

/**
 * Key generations a node runs at once, in all and per user. A DKLs23 key generation takes
 * seconds of CPU on every node; without a bound, twenty from one user starved each other
 * (none finished in 70 s) and every signature behind them. Beyond the bound the answer is
 * a fast executor_result, never a queue.
 */
export class KeygenSlots {
  #total = 0;
  readonly #perUser = new Map<string, number>();

  constructor(
    readonly maxPerNode: number,
    readonly maxPerUser: number,
  ) {}

  /** Slots taken now (the `tandem_keygens_running` gauge). */
  get running(): number {
    return this.#total;
  }

  /** Takes a slot for `userId` or throws executor_result; call the returned function once, when done. */
  enter(userId: string): () => void {
    const mine = this.#perUser.get(userId) ?? 0;
    if (this.#total >= this.maxPerNode) throw new TandemError('executor_result', `this node runs ${this.maxPerNode} key generations at once already; try again later`);
    if (mine >= this.maxPerUser) throw new TandemError('executor_result', `at most ${this.maxPerUser} key generations at once per user on this node; try again later`);
    this.#total += 1;
    this.#perUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total -= 1;
      const left = (this.#perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.#perUser.set(userId, left);
      else this.#perUser.delete(userId);
    };
  }
}
