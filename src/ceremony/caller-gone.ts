/**
 * The HTTP caller of a long operation (a key generation, a signature) disconnected before
 * its answer was written. What it asked for is nobody's any more: finishing it would spend
 * CPU, key-generation slots and policy budgets on every node for a result nobody reads.
 */
export class CallerGoneError extends Error {
  constructor() {
    super('the caller went away');
    this.name = 'CallerGoneError';
  }
}
