import { setTimeout as delay } from 'node:timers/promises';

/** Polls `cond` every 5 ms until it holds; fails naming `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
