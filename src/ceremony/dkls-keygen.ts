import { encodePoint } from '../protocols/dkls23/math/group.js';
import { wipe, type Dkls23KeyShare } from '../protocols/dkls23/keyshare/keyshare.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import { dkgRoundTimeout, dklsConfirmOf, runDklsDkg, type DklsDkgConfirm } from './dkls-dkg-rounds.js';
import { OP, STEP, type DklsKeygenOp } from './operations.js';
import { abortAll, abortCodeFor, ceremonyError, gatherParties, notEnoughParties } from './outcomes.js';
import { joinKeygen } from './participant.js';
import { checkParties, parseDklsKeygenStart } from './parties.js';
import type { CoordinatorSeat, ParticipantSeat, ShareVault } from './ports.js';
import type { CeremonySession } from './session.js';

/**
 * DKLs23 key generation (threshold ECDSA). The coordinator invites every peer (and the
 * room's clients) and takes the first n-1 that are ready; then all n parties run the four
 * DKG rounds all to all (private messages go party to party, sealed end to end), each keeps
 * its share, and the key is returned only when every party confirms the same key.
 */
export async function coordinateDklsKeygen(
  seat: CoordinatorSeat,
  /** `ownerPasskey`: carried to every node as is (the node's passkey binding, passkey-owner.ts). */
  req: { keyId: string; n: number; t: number; ownerPasskey?: unknown },
  vault: ShareVault<Dkls23KeyShare>,
): Promise<{ keyId: string; publicKey: Uint8Array }> {
  const peers = seat.peers.nodes;
  const clients = seat.room?.clients ?? [];
  let session: CeremonySession | undefined;
  let chosen: PartyId[] = [];
  let stored = false;
  try {
    session = await seat.open();
    const s = session;
    const op: DklsKeygenOp = {
      type: OP.dklsKeygen,
      key_id: req.keyId,
      n: req.n,
      t: req.t,
      ...(seat.room ? { room_uuid: seat.room.uuid } : {}),
      ...(req.ownerPasskey !== undefined ? { owner_passkey: req.ownerPasskey } : {}),
    };
    const need = req.n - 1;
    const { winners, losers, failures } = await gatherParties(s, seat.peers, { nodes: peers, clients, need, op }, (p) =>
      s.expect(p, STEP.ready, seat.stepTimeoutMs),
    );
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('key generation', winners.length + 1, req.n, failures);
    chosen = winners.map(([p]) => p);
    const parties = [seat.self, ...chosen].sort();
    for (const p of chosen) s.step(p, STEP.start, { parties });
    const share = await runDklsDkg(s, seat.self, parties, req.t, seat.stepTimeoutMs);
    const mine = dklsConfirmOf(share);
    const publicKey = encodePoint(share.pub.publicKey);
    await keep(vault, req.keyId, share);
    stored = true;
    for (const p of chosen) {
      const c = (await s.expect(p, STEP.confirm, dkgRoundTimeout(seat.stepTimeoutMs))) as DklsDkgConfirm;
      if (c?.public_key !== mine.public_key || c?.dkg_sid !== mine.dkg_sid) throw new ProtocolError(`${p} confirmed another key`);
    }
    for (const p of chosen) s.step(p, STEP.commit, {});
    return { keyId: req.keyId, publicKey };
  } catch (e) {
    if (session) abortAll(session, chosen.length ? chosen : [...peers, ...clients], abortCodeFor(session));
    if (stored) await vault.forget(req.keyId);
    throw ceremonyError('key generation', e);
  } finally {
    session?.close();
  }
}

/**
 * A participant's side: admitted, ready, the coordinator's party list checked, the four
 * rounds, the share kept before it confirms (joinKeygen: what a failure after that undoes).
 */
export async function participateDklsKeygen(seat: ParticipantSeat, op: DklsKeygenOp, vault: ShareVault<Dkls23KeyShare>): Promise<{ keyId: string }> {
  const { session: s, coordinator: from } = seat;
  return joinKeygen(seat, op, { keep: (share: Dkls23KeyShare) => keep(vault, op.key_id, share), forget: () => vault.forget(op.key_id) }, {
    async enter(admit) {
      if (op.t < 2 || op.t > op.n) throw new ProtocolError('invitation with malformed parameters', from);
      await admit();
    },
    async rounds({ admission, keepShare }) {
      s.step(from, STEP.ready, {});
      const start = parseDklsKeygenStart(await s.expect(from, STEP.start, seat.stepTimeoutMs), from);
      const parties = start.parties as PartyId[];
      checkParties(s.self, from, admission, parties, op.n);
      const share = await runDklsDkg(s, s.self, parties, op.t, seat.stepTimeoutMs);
      const confirm = dklsConfirmOf(share);
      await keepShare(share);
      s.step(from, STEP.confirm, confirm);
      await s.expect(from, STEP.commit, seat.stepTimeoutMs);
      return { keyId: op.key_id };
    },
  });
}

async function keep(vault: ShareVault<Dkls23KeyShare>, keyId: string, share: Dkls23KeyShare): Promise<void> {
  try {
    await vault.keep(keyId, share);
  } finally {
    wipe(share);
  }
}
