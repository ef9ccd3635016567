import { hexToBytes } from '@noble/hashes/utils.js';
import { sha256 } from '#protocols/platform';
import { indexOf, type Dkls23KeyShare } from '../protocols/dkls23/keyshare/keyshare.js';
import { signSid } from '../protocols/dkls23/session/ids.js';
import { Dkls23Signer, type SignRound3 } from '../protocols/dkls23/sign/sign.js';
import type { PartyId } from '../shared/ids.js';
import { column, exchange } from './exchange.js';
import type { CeremonySession } from './session.js';

/** The coordinator's "start": the signing set and every signer's session-id contribution. */
export interface DklsSignStart {
  signers: PartyId[];
  contributions: Record<string, string>;
}

/**
 * DKLs23 signing rounds 1-3 from one signer's view (node or room client alike); returns its
 * round-3 partial for every hash. The session id is derived from every signer's
 * contribution, so no party can make another reuse one.
 */
export async function runDklsSign(
  s: CeremonySession,
  share: Dkls23KeyShare,
  start: DklsSignStart,
  hashes: Uint8Array[],
  path: number[],
  tweak: bigint,
  stepTimeoutMs: number,
): Promise<SignRound3[]> {
  const nonce = sha256(...start.signers.map((p) => contribution(start, p)));
  const sid = signSid({
    dkgSid: share.pub.dkgSid,
    epoch: share.pub.epoch,
    signers: start.signers.map((p) => indexOf(share.pub, p)),
    path,
    nonce,
  });
  // One independent DKLs23 session per message, each under its own sub-session id.
  const signers = hashes.map((h, k) => new Dkls23Signer(share, start.signers, subSid(sid, k), h, tweak));
  const others = signers[0]!.others;
  const n = hashes.length;
  const byPeer = (rounds: Array<Map<PartyId, Uint8Array>>) => new Map(others.map((p) => [p, rounds.map((r) => r.get(p)!)]));
  try {
    const r1 = await exchange(s, others, 'r1', byPeer(signers.map((x) => x.round1())), stepTimeoutMs, n);
    const r2 = await exchange(s, others, 'r2', byPeer(signers.map((x, k) => x.round2(column(r1, k)))), stepTimeoutMs, n);
    return await Promise.all(signers.map(async (x, k) => x.round3(column(r2, k))));
  } finally {
    for (const x of signers) x.destroy();
  }
}

const utf8 = new TextEncoder();

function subSid(sid: Uint8Array, k: number): Uint8Array {
  return sha256(utf8.encode('tandem/dkls23/v1/batch-item'), sid, utf8.encode(String(k)));
}

/** A signer's 32-byte session-id contribution, as hex in the start message. */
function contribution(start: DklsSignStart, p: PartyId): Uint8Array {
  const c = hexToBytes(start.contributions[p] ?? '');
  if (c.length !== 32) throw new Error(`expected 32 bytes, got ${c.length}`);
  return c;
}
