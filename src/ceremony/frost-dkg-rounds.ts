import type { FrostDkg } from '../protocols/frost/dkg.js';
import type { FrostKeyShare } from '../protocols/frost/key-share.js';
import { parseDkgRound2, type DkgConfirm, type DkgRound2 } from '../protocols/frost/messages.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import { STEP } from './operations.js';
import type { CeremonySession } from './session.js';

/**
 * FROST DKG rounds 2 and 3 from one party's view: the same for a coordinator, a node
 * participant and a room's client. `shares` is what `dkg.round2` made of the round-1 set:
 * the caller checks the set first, the coordinator before it relays it (so a bad package
 * names its author there and reaches nobody), a participant as soon as it arrives (naming
 * the coordinator that relayed it).
 */
export async function exchangeDkgShares(
  s: CeremonySession,
  dkg: FrostDkg,
  shares: DkgRound2[],
  others: PartyId[],
  timeoutMs: number,
): Promise<{ share: FrostKeyShare; confirm: DkgConfirm }> {
  // Hear from every party before sending shares: they then travel under the
  // ephemeral-ephemeral channel key (forward secret), never under a first-contact key.
  for (const p of others) s.step(p, STEP.hello, {});
  await Promise.all(others.map((p) => s.expect(p, STEP.hello, timeoutMs)));
  for (const p of others) if (!s.channel.heardFrom(p)) throw new ProtocolError('no authenticated message yet', p);
  for (const m of shares) s.step(m.to as PartyId, STEP.r2, m);
  const received: DkgRound2[] = await Promise.all(
    others.map(async (p) => {
      const r2 = parseDkgRound2(await s.expect(p, STEP.r2, timeoutMs), p);
      if (r2.from !== p) throw new ProtocolError('round-2 share carries another party id', p);
      return r2;
    }),
  );
  return dkg.round3(received);
}
