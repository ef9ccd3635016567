import { FrostDkg } from '../protocols/frost/dkg.js';
import { groupPublicKey, type FrostKeyShare } from '../protocols/frost/key-share.js';
import { parseDkgConfirm, parseDkgRound1, parseDkgRound1Set, type DkgRound1Set } from '../protocols/frost/messages.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import { exchangeDkgShares } from './frost-dkg-rounds.js';
import { frostSuite } from './families.js';
import { OP, STEP, type FrostKeygenOp } from './operations.js';
import { abortAll, abortCodeFor, ceremonyError, gatherParties, notEnoughParties } from './outcomes.js';
import { joinKeygen } from './participant.js';
import { checkParties } from './parties.js';
import type { CoordinatorSeat, ParticipantSeat, ShareVault } from './ports.js';
import type { CeremonySession } from './session.js';

/**
 * FROST distributed key generation. The coordinator invites every peer (and the room's
 * clients), takes the first n-1 that answer with a round-1 package, echoes the round-1 set
 * to them, and the parties exchange round-2 shares privately (peer to peer through the
 * relay: the coordinator never sees them). Each party keeps its share before it confirms;
 * the coordinator returns the key only when every confirmation agrees, and otherwise tells
 * everyone to drop it.
 */
export async function coordinateFrostKeygen(
  seat: CoordinatorSeat,
  req: { family: string; keyId: string; n: number; t: number },
  vault: ShareVault<FrostKeyShare>,
): Promise<{ keyId: string; publicKey: Uint8Array }> {
  const suite = frostSuite(req.family);
  const dkg = new FrostDkg(suite, seat.self, req.t, req.n);
  const peers = seat.peers.nodes;
  const clients = seat.room?.clients ?? [];
  let session: CeremonySession | undefined;
  let stored = false;
  let chosen: PartyId[] = [];
  try {
    session = await seat.open();
    const s = session;
    const op: FrostKeygenOp = { type: OP.frostKeygen, family: req.family, key_id: req.keyId, n: req.n, t: req.t, ...(seat.room ? { room_uuid: seat.room.uuid } : {}) };
    const mine = dkg.round1();
    const need = req.n - 1;
    const { winners, losers, failures } = await gatherParties(s, seat.peers, { nodes: peers, clients, need, op }, async (p) => {
      const r1 = parseDkgRound1(await s.expect(p, STEP.r1, seat.stepTimeoutMs), p);
      if (r1.from !== p) throw new ProtocolError('round-1 package carries another party id', p);
      return r1;
    });
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('key generation', winners.length + 1, req.n, failures);
    chosen = winners.map(([p]) => p);
    const set: DkgRound1Set = { v: 2, packages: [mine, ...winners.map(([, r1]) => r1)] };
    // Checked before it is relayed: participants name us for a bad package in it.
    const shares = dkg.round2(set);
    for (const p of chosen) s.step(p, STEP.r1set, set);
    const result = await exchangeDkgShares(s, dkg, shares, chosen, seat.stepTimeoutMs);
    await keep(vault, req.keyId, result.share);
    stored = true;
    const confirms = await Promise.all(chosen.map(async (p) => parseDkgConfirm(await s.expect(p, STEP.confirm, seat.stepTimeoutMs), p)));
    for (const c of confirms) {
      if (c.publicDigest !== result.confirm.publicDigest || c.transcript !== result.confirm.transcript) {
        throw new ProtocolError(`${c.from} computed a different public key package`);
      }
    }
    for (const p of chosen) s.step(p, STEP.commit, {});
    return { keyId: req.keyId, publicKey: groupPublicKey(suite, result.share.publicPackage) };
  } catch (e) {
    if (session) abortAll(session, chosen.length ? chosen : [...peers, ...clients], abortCodeFor(session));
    if (stored) await vault.forget(req.keyId);
    throw ceremonyError('key generation', e);
  } finally {
    dkg.destroy();
    session?.close();
  }
}

/**
 * A participant's side (a node invited by its peer, or a room's client): admitted first, then
 * round 1, the round-1 set checked (a bad entry names the coordinator that relayed it), round
 * 2 party to party, the share kept before it confirms (joinKeygen: what a failure after that undoes).
 */
export async function participateFrostKeygen(seat: ParticipantSeat, op: FrostKeygenOp, vault: ShareVault<FrostKeyShare>): Promise<{ keyId: string }> {
  const { session: s, coordinator: from } = seat;
  let created: FrostDkg | undefined;
  try {
    return await joinKeygen(seat, op, { keep: (share: FrostKeyShare) => keep(vault, op.key_id, share), forget: () => vault.forget(op.key_id) }, {
      async enter(admit) {
        const suite = frostSuite(op.family);
        await admit();
        created = new FrostDkg(suite, s.self, op.t, op.n);
        return created;
      },
      async rounds({ admission, entered: dkg, keepShare }) {
        s.step(from, STEP.r1, dkg.round1());
        const set = parseDkgRound1Set(await s.expect(from, STEP.r1set, seat.stepTimeoutMs), from);
        const others = checkParties(s.self, from, admission, set.packages.map((p) => p.from as PartyId), op.n);
        const result = await exchangeDkgShares(s, dkg, dkg.round2(set, from), others, seat.stepTimeoutMs);
        await keepShare(result.share);
        s.step(from, STEP.confirm, result.confirm);
        await s.expect(from, STEP.commit, seat.stepTimeoutMs);
        return { keyId: op.key_id };
      },
    });
  } finally {
    created?.destroy();
  }
}

/** Keeps a new share and wipes its secret, whatever happens. */
async function keep(vault: ShareVault<FrostKeyShare>, keyId: string, share: FrostKeyShare): Promise<void> {
  try {
    await vault.keep(keyId, share);
  } finally {
    share.secretShare.fill(0);
  }
}
