import { toHex } from '../core/hex.js';
import {
  parseSignatureShareBatch,
  parseSignCommitmentBatch,
  parseSigningPackageBatch,
  type SignatureShare,
  type SignCommitment,
  type SigningPackage,
} from '../protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../protocols/frost/sign.js';
import { deriveFrostShare } from '../protocols/frost/derive.js';
import type { FrostKeyShare } from '../protocols/frost/key-share.js';
import type { FrostSuite } from '../protocols/frost/suite.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import { frostSuite } from './families.js';
import { OP, STEP, signInputs, type FrostSignOp } from './operations.js';
import { abortAll, abortCodeFor, ceremonyError, gatherParties, notEnoughParties } from './outcomes.js';
import { joinSign } from './participant.js';
import type { CoordinatorSeat, ParticipantSeat, ShareVault, SigningKey } from './ports.js';
import type { CeremonySession } from './session.js';

/**
 * FROST signing, of one message or a batch in one ceremony. The coordinator invites every
 * other holder of the key, signs with the first t-1 that commit (so a node that is down
 * costs nothing but its invitation), and aggregates. Each participant decides itself
 * (Authorizer) before committing to anything, and signs only the messages named in the
 * operation it was given.
 */
export async function coordinateFrostSign(
  seat: CoordinatorSeat,
  req: { family: string; key: SigningKey; msgs: Uint8Array[]; path: number[]; extraData: Uint8Array },
  vault: ShareVault<FrostKeyShare>,
): Promise<Uint8Array[]> {
  const suite = frostSuite(req.family);
  const { key } = req;
  const clients = seat.room?.clients ?? [];
  const share = await childShare(vault, suite, key.keyId, req.path);
  const mine = req.msgs.map((m) => new FrostSigner(suite, share, m));
  let session: CeremonySession | undefined;
  const peers = key.parties.filter((p) => p !== seat.self && seat.peers.nodes.includes(p));
  try {
    session = await seat.open();
    const s = session;
    const op: FrostSignOp = {
      type: OP.frostSign,
      family: req.family,
      key_id: key.keyId,
      path: req.path,
      msgs: req.msgs.map(toHex),
      extra_data: toHex(req.extraData),
      ...(seat.room ? { room_uuid: seat.room.uuid } : {}),
    };
    const aggs = req.msgs.map((m) => new FrostAggregator(suite, share.publicPackage, m));
    aggs.forEach((agg, i) => agg.addCommitment(mine[i]!.commit()));
    const need = key.threshold - 1;
    const { winners, losers, failures } = await gatherParties(s, seat.peers, { nodes: peers, clients, need, op }, async (p) => {
      const batch = parseSignCommitmentBatch(await s.expect(p, STEP.commit, seat.stepTimeoutMs), p);
      return entries<SignCommitment>(batch.commitments, req.msgs.length, p, 'commitments');
    });
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('signing', winners.length + 1, key.threshold, failures);
    for (const [, commitments] of winners) commitments.forEach((c, i) => aggs[i]!.addCommitment(c));
    const signers = [seat.self, ...winners.map(([p]) => p)];
    const packages = aggs.map((agg) => agg.signingPackage(signers));
    for (const [p] of winners) s.step(p, STEP.package, { v: 1, packages });
    const myShares = mine.map((signer, i) => signer.sign(packages[i]!));
    const theirs = await Promise.all(
      winners.map(async ([p]) => {
        const batch = parseSignatureShareBatch(await s.expect(p, STEP.share, seat.stepTimeoutMs), p);
        return entries<SignatureShare>(batch.shares, req.msgs.length, p, 'shares');
      }),
    );
    const signatures = aggs.map((agg, i) => agg.aggregate([myShares[i]!, ...theirs.map((t) => t[i]!)]));
    await seat.audit.signed({ ceremony: s.id, keyId: key.keyId, family: req.family, msgs: req.msgs, signers });
    return signatures;
  } catch (e) {
    if (session) abortAll(session, [...peers, ...clients], abortCodeFor(session));
    throw ceremonyError('signing', e);
  } finally {
    for (const m of mine) m.destroy();
    share.secretShare.fill(0);
    session?.close();
  }
}

/**
 * A participant's side: admitted (and its share opened) before it commits to anything; then
 * nonce commitments, the coordinator's signing packages (a bad one names the coordinator),
 * and its signature shares. Once those are out, what it reserved stays spent.
 */
export async function participateFrostSign(seat: ParticipantSeat, op: FrostSignOp, vault: ShareVault<FrostKeyShare>): Promise<void> {
  const { session: s, coordinator: from } = seat;
  let signers: FrostSigner[] = [];
  let share: FrostKeyShare | undefined;
  try {
    await joinSign(seat, op, {
      async enter(admit) {
        const suite = frostSuite(op.family);
        const { msgs, path } = signInputs(op, seat.maxBatch, from);
        await admit();
        const child = await childShare(vault, suite, op.key_id, path);
        share = child;
        // One at a time: a constructor that throws leaves those already made to the finally below.
        for (const m of msgs) signers.push(new FrostSigner(suite, child, m));
      },
      async rounds() {
        s.step(from, STEP.commit, { v: 1, commitments: signers.map((x) => x.commit()) });
        const batch = parseSigningPackageBatch(await s.expect(from, STEP.package, seat.stepTimeoutMs), from);
        const packages = batch.packages as SigningPackage[];
        if (packages.length !== signers.length) throw new ProtocolError('signing packages do not match the invitation', from);
        s.step(from, STEP.share, { v: 1, shares: signers.map((x, i) => x.sign(packages[i]!, from)) });
      },
    });
  } finally {
    for (const x of signers) x.destroy();
    share?.secretShare.fill(0);
  }
}

/** This party's share of the key's child at `path` (the key itself for an empty path). */
async function childShare(vault: ShareVault<FrostKeyShare>, suite: FrostSuite, keyId: string, path: number[]): Promise<FrostKeyShare> {
  const root = await vault.open(keyId);
  try {
    return deriveFrostShare(suite, root, path);
  } finally {
    root.secretShare.fill(0);
  }
}

/** One entry per message, each carrying its sender's own id. */
function entries<T extends { from: string }>(list: unknown, count: number, from: PartyId, what: string): T[] {
  const items = list as T[];
  if (items.length !== count) throw new ProtocolError(`${items.length} ${what} for ${count} messages`, from);
  for (const item of items) if (item.from !== from) throw new ProtocolError(`${what} carry another party id`, from);
  return items;
}
