import { toHex, fromHex } from '../core/hex.js';
import { sha256 } from '#protocols/platform';
import { Dkls23Error } from '../protocols/dkls23/errors.js';
import { indexOf, type Dkls23KeyShare } from '../protocols/dkls23/keyshare/keyshare.js';
import { signSid } from '../protocols/dkls23/session/ids.js';
import { Dkls23Signer, type SignRound3 } from '../protocols/dkls23/sign/sign.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import type { BanList } from './bans.js';
import { column, exchange } from './exchange.js';
import { STEP } from './operations.js';
import type { CeremonySession } from './session.js';

/** The coordinator's "start": the signing set and every signer's session-id contribution. */
export interface DklsSignStart {
  signers: PartyId[];
  contributions: Record<string, string>;
}

/**
 * Hashes per run of the three rounds: a DKLs23 round carries ~50 KB per hash and peer, so a
 * longer batch runs as several runs inside the one ceremony, keeping every relay frame small.
 */
const DKLS_SIGN_CHUNK = 8;

/** One signer's view of a signature ceremony: who coordinates, and the key's ban list. */
export interface DklsSignSeat {
  session: CeremonySession;
  share: Dkls23KeyShare;
  keyId: string;
  coordinator: PartyId;
  bans: BanList;
  stepTimeoutMs: number;
}

/**
 * DKLs23 signing rounds 1-3 from one signer's view (node or room client alike); returns its
 * round-3 partial for every hash. The session id is derived from every signer's
 * contribution, so no party can make another reuse one.
 *
 * Bans hold here for every seat (bans.ts): the ceremony is registered with the ban list
 * before anything is sent, every send re-checks it synchronously, a ban seen by another
 * ceremony fails this one at once, and a failed OT-extension, μ or Γ check is marked in
 * memory in the same synchronous step that saw it, and durable before this returns.
 *
 * Before any OT check, every signer compares a digest of the session id and the hashes
 * (the `agree` field of round 1): a coordinator that told two signers different things
 * (signers, contributions, path, messages, batch size) makes them abort without blaming
 * each other, never ban an honest party for an OT check computed under another session.
 */
export async function runDklsSign(seat: DklsSignSeat, start: DklsSignStart, hashes: Uint8Array[], path: number[], tweak: bigint): Promise<SignRound3[]> {
  const { session: s, share } = seat;
  const nonce = sha256(...start.signers.map((p) => contribution(start, p, seat.coordinator)));
  const sid = signSid({
    dkgSid: share.pub.dkgSid,
    epoch: share.pub.epoch,
    signers: start.signers.map((p) => indexOf(share.pub, p)),
    path,
    nonce,
  });
  const others = start.signers.filter((p) => p !== share.self);
  const guard = await seat.bans.enter(seat.keyId, others, (e) => s.fail(e));
  s.guardSends(() => guard.assertClear());
  const agree = toHex(sha256(utf8.encode('tandem/dkls23/v1/sign-agree'), sid, utf8.encode(String(hashes.length)), ...hashes));
  const blame = (p: PartyId) => (share.self === seat.coordinator || p === seat.coordinator ? p : undefined);
  const partials: SignRound3[] = [];
  try {
    for (let from = 0; from < hashes.length; from += DKLS_SIGN_CHUNK) {
      const chunk = hashes.slice(from, from + DKLS_SIGN_CHUNK);
      // One independent DKLs23 session per message, each under its own sub-session id.
      const signers = chunk.map((h, k) => new Dkls23Signer(share, start.signers, subSid(sid, from + k), h, tweak));
      const n = chunk.length;
      const byPeer = (rounds: Array<Map<PartyId, Uint8Array>>) => new Map(others.map((p) => [p, rounds.map((r) => r.get(p)!)]));
      try {
        const r1 = await exchange(s, others, STEP.r1, byPeer(signers.map((x) => x.round1())), seat.stepTimeoutMs, n, { agree, blame });
        // Round 2 (our OT-extension check as Alice, then the message it guards) and round 3
        // (μ and Γ as Bob) are synchronous from check to send: no other ceremony runs between.
        const r2 = await exchange(s, others, STEP.r2, byPeer(signers.map((x, k) => x.round2(column(r1, k)))), seat.stepTimeoutMs, n);
        partials.push(...signers.map((x, k) => x.round3(column(r2, k))));
      } finally {
        for (const x of signers) x.destroy();
      }
    }
    guard.assertClear();
    return partials;
  } catch (e) {
    if (e instanceof Dkls23Error && e.kind === 'ban' && e.culprit && others.includes(e.culprit)) await guard.ban(e.culprit, e.reason);
    throw e;
  } finally {
    guard.release();
  }
}

const utf8 = new TextEncoder();

function subSid(sid: Uint8Array, k: number): Uint8Array {
  return sha256(utf8.encode('tandem/dkls23/v1/batch-item'), sid, utf8.encode(String(k)));
}

/** A signer's 32-byte session-id contribution, as hex in the start message. */
function contribution(start: DklsSignStart, p: PartyId, coordinator: PartyId): Uint8Array {
  const hex = start.contributions[p];
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) throw new ProtocolError('start message with a malformed contribution', coordinator);
  return fromHex(hex);
}
