import type { ServerResponse } from 'node:http';

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

/**
 * Aborted (with a CallerGoneError) when `res` closes before it was finished, i.e. when the
 * client's socket closed while the handler still ran. A request's own 'close' event is no
 * use for this: Node emits it as soon as the body has been read.
 */
export function callerSignal(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new CallerGoneError());
  });
  return ac.signal;
}
