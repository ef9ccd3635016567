import { TandemError } from '../core/errors.js';
import { NestedSlots } from '../core/nested-slots.js';

/**
 * Key generations a node runs at once, in all and per user. A DKLs23 key generation takes
 * seconds of CPU on every node; without a bound, twenty from one user starved each other
 * (none finished in 70 s) and every signature behind them. Beyond the bound the answer is
 * a fast executor_result, never a queue.
 */
export class KeygenSlots {
  readonly #slots: NestedSlots<string>;

  constructor(
    readonly maxPerNode: number,
    readonly maxPerUser: number,
  ) {
    this.#slots = new NestedSlots(maxPerNode, maxPerUser);
  }

  /** Slots taken now (the `tandem_keygens_running` gauge). */
  get running(): number {
    return this.#slots.running;
  }

  /** Takes a slot for `userId` or throws executor_result; call the returned function once, when done. */
  enter(userId: string): () => void {
    const place = this.#slots.enter(userId);
    if (place === 'total') throw new TandemError('executor_result', `this node runs ${this.maxPerNode} key generations at once already; try again later`);
    if (place === 'key') throw new TandemError('executor_result', `at most ${this.maxPerUser} key generations at once per user on this node; try again later`);
    return place;
  }
}
