import type { PartyId } from '../../core/ids.js';
import { cryptoRng, type Rng } from '../../core/rng.js';
import { DKLS23_VERSION } from './params.js';
import { abort } from './errors.js';
import { hash, TAGS, type Part } from './hash/oracle.js';
import { ctEqual } from './ot/util.js';
import { assertPartyIndex } from './session/ids.js';

/**
 * Salted hash commitments (design note §2 R1, §3 round 1, §6): C = H_com(version, sid, sender,
 * label, salt, parts…) with a fresh 32-byte salt from the CSPRNG. Binding the sid and the
 * sender's index means a commitment can't be copied into another session or claimed by
 * another party (a rushing party echoing someone's commitment could not open it as its own);
 * the label separates the protocol's different commitments. The oracle's length-prefixed
 * encoding makes (parts…) injective. Opening compares in constant time.
 */

export const COMMITMENT_BYTES = 32;
export const COMMIT_SALT_BYTES = 32;

export interface CommitContext {
  /** Session id (or the committer's own session contribution before the sid exists); non-empty. */
  sid: Uint8Array;
  /** The committing party's index. */
  sender: number;
  /** Which commitment of the protocol, e.g. `dkg/feldman`, `sign/R`; non-empty. */
  label: string;
}

export interface Commitment {
  commitment: Uint8Array;
  /** Secret until the opening. */
  salt: Uint8Array;
}

function digest(ctx: CommitContext, salt: Uint8Array, parts: readonly Part[]): Uint8Array {
  if (!(ctx.sid instanceof Uint8Array) || ctx.sid.length === 0) throw abort('commit: empty sid');
  assertPartyIndex(ctx.sender, 'commit: sender');
  if (ctx.label.length === 0) throw abort('commit: empty label');
  return hash(TAGS.commit, DKLS23_VERSION, ctx.sid, ctx.sender, ctx.label, salt, parts.length, ...parts);
}

export function commit(ctx: CommitContext, parts: readonly Part[], rng: Rng = cryptoRng): Commitment {
  const salt = rng(COMMIT_SALT_BYTES);
  return { commitment: digest(ctx, salt, parts), salt };
}

/** True iff (salt, parts) opens `commitment` for (sid, sender, label). Never throws on bad input bytes. */
export function verifyOpening(ctx: CommitContext, commitment: Uint8Array, salt: Uint8Array, parts: readonly Part[]): boolean {
  if (!(commitment instanceof Uint8Array) || commitment.length !== COMMITMENT_BYTES) return false;
  if (!(salt instanceof Uint8Array) || salt.length !== COMMIT_SALT_BYTES) return false;
  return ctEqual(digest(ctx, salt, parts), commitment);
}

/** As verifyOpening, but a failed opening aborts naming `from` (design note §6: ABORT(peer)). */
export function checkOpening(
  ctx: CommitContext,
  commitment: Uint8Array,
  salt: Uint8Array,
  parts: readonly Part[],
  from: PartyId,
): void {
  if (!verifyOpening(ctx, commitment, salt, parts)) throw abort(`commitment (${ctx.label}) does not open`, from);
}
