import { toHex } from '../core/hex.js';
import { Dkls23Dkg } from '../protocols/dkls23/dkg/dkg.js';
import type { Dkls23KeyShare } from '../protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../protocols/dkls23/math/group.js';
import type { PartyId } from '../core/ids.js';
import { column, exchange } from './exchange.js';
import { STEP } from './operations.js';
import type { CeremonySession } from './session.js';

/** DKG rounds run base OTs for every pair: allow them more than a plain step. */
export const dkgRoundTimeout = (stepTimeoutMs: number) => Math.max(stepTimeoutMs, 60_000);

/** The four DKLs23 DKG rounds, all to all, from one party's view (node or room client alike). */
export async function runDklsDkg(s: CeremonySession, self: PartyId, parties: PartyId[], t: number, stepTimeoutMs: number): Promise<Dkls23KeyShare> {
  const dkg = new Dkls23Dkg(self, parties, t);
  const others = dkg.others;
  const timeout = dkgRoundTimeout(stepTimeoutMs);
  const perPeer = (m: Map<PartyId, Uint8Array>) => new Map([...m].map(([p, b]) => [p, [b]]));
  try {
    const r1 = await exchange(s, others, STEP.r1, [dkg.round1()], timeout, 1);
    const r2 = await exchange(s, others, STEP.r2, perPeer(dkg.round2(column(r1, 0))), timeout, 1);
    const r3 = await exchange(s, others, STEP.r3, perPeer(dkg.round3(column(r2, 0))), timeout, 1);
    const r4 = await exchange(s, others, STEP.r4, [dkg.round4(column(r3, 0))], timeout, 1);
    return dkg.finish(column(r4, 0));
  } finally {
    dkg.destroy();
  }
}

/** What every party confirms at the end of a DKLs23 DKG: the same key from the same session. */
export interface DklsDkgConfirm {
  public_key: string;
  dkg_sid: string;
}

export const dklsConfirmOf = (share: Dkls23KeyShare): DklsDkgConfirm => ({ public_key: toHex(encodePoint(share.pub.publicKey)), dkg_sid: toHex(share.pub.dkgSid) });
