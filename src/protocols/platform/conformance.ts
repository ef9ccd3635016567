import type * as Browser from './browser.js';
import type * as Node from './node.js';

/** Both builds must export exactly the same names and types: a mismatch is a type error here, not a failed bundle later. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const platformsAgree: Same<typeof Node, typeof Browser> = true;
