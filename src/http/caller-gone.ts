import type { ServerResponse } from 'node:http';
import { CallerGoneError } from '../ceremony/caller-gone.js';

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
