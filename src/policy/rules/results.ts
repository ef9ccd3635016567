import type { CheckedBy } from './kind.js';

/** The results a check returns when it takes no budget. */
export const approve: CheckedBy<never> = { refused: null, budget: null };
export const refuse = (reason: string): CheckedBy<never> => ({ refused: reason });

export function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}...`;
}

/**
 * The message a `sign` carries, lower case, or the refusal when it has none or it is not
 * hex. (Only `sign` carries a message; the rules that look at it pass other operations.)
 */
export function signedMessage(msg: string | null): string | CheckedBy<never> {
  if (msg === null) return refuse('a sign request must carry a message');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(msg)) return refuse('the message is not hex');
  return msg.toLowerCase();
}
