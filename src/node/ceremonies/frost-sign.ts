import {
  parseSignatureShareBatch,
  parseSignCommitmentBatch,
  parseSigningPackageBatch,
  type SignatureShare,
  type SignCommitment,
  type SigningPackage,
} from '../../protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../protocols/frost/sign.js';
import { deriveFrostShare, parseDerivationPath } from '../../protocols/frost/derive.js';
import type { FrostKeyShare } from '../../protocols/frost/key-share.js';
import type { FrostSuite } from '../../protocols/frost/suite.js';
import type { KeyRecord, UserRecord } from '../../storage/store.js';
import { ProtocolError } from '../../protocols/errors.js';
import { fromHex, toHex } from '../../shared/hex.js';
import type { PartyId } from '../../shared/ids.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { frostSuite } from '../families.js';
import type { FrostFamily } from '../../protocols/frost/suite.js';
import { checkInvitationMatches } from '../signed-requests.js';
import { userEvidence } from '../caller-evidence.js';
import { auditSigned, signDecision } from './child-keys.js';
import { abortAll, abortCodeFor, gatherParties, nodeHolders, openCeremony, type Participant, ceremonyError, notEnoughParties, refuse, type NodeContext } from './context.js';
import { checkEnoughSigners, claimRoom, joinRoomAsParticipant } from './rooms.js';
import { openFrostShare, ownedKey } from './key-shares.js';
import type { Reservation } from '../policy-gate.js';

/**
 * FROST signing across nodes, of one message or a batch in one ceremony. The node that
 * took the API call coordinates: it invites every other holder of the key, signs with the
 * first t-1 that commit (so a node that is down costs nothing but its invitation), and
 * aggregates. Each participant checks the caller and the key itself before committing to
 * anything, and signs only the messages named in its invitation.
 */
export interface SignRequest {
  family: FrostFamily;
  credential: string;
  keyId: string;
  msgs: Uint8Array[];
  /** Non-hardened child to sign with; every participant derives its own child share. */
  path: number[];
  extraData: Uint8Array;
  relay: string;
  /** A room whose client parties sign too (POST /create-room). */
  roomUuid?: string;
  /** Aborted when the HTTP caller disconnects: the ceremony is abandoned (openCeremony). */
  callerGone?: AbortSignal;
}

export const FROST_SIGN = 'frost-sign';

export async function coordinateSign(ctx: NodeContext, req: SignRequest): Promise<Uint8Array[]> {
  const user = await ctx.authenticateUser(req.credential);
  const key = await ownedKey(ctx, user, req.keyId, req.family);
  const reservation = await ctx.authorize(signDecision(req.family, user.userId, key, req.msgs, req.path, req.extraData));
  return reservation.settle(() => signAuthorized(ctx, req, user, key));
}

async function signAuthorized(ctx: NodeContext, req: SignRequest, user: UserRecord, key: KeyRecord): Promise<Uint8Array[]> {
  const suite = frostSuite(req.family);
  const room = req.roomUuid === undefined ? undefined : await claimRoom(ctx, user, req.roomUuid, key.threshold, key.keyId);
  const relay = room?.room.relayAddress ?? req.relay;
  checkEnoughSigners(ctx, key, room);
  const share = childShare(ctx, key, suite, req.path);
  const mine = req.msgs.map((m) => new FrostSigner(suite, share, m));
  let session: CeremonySession | undefined;
  const peers = nodeHolders(ctx, key.parties);
  try {
    session = await openCeremony(ctx, relay, room?.channel, req.callerGone);
    const s = session;
    const op = {
      type: FROST_SIGN,
      family: req.family,
      key_id: req.keyId,
      path: req.path,
      msgs: req.msgs.map(toHex),
      extra_data: toHex(req.extraData),
      ...(room ? { room_uuid: room.room.roomUuid } : {}),
    };
    const aggs = req.msgs.map((m) => new FrostAggregator(suite, share.publicPackage, m));
    aggs.forEach((agg, i) => agg.addCommitment(mine[i]!.commit()));
    const need = key.threshold - 1;
    const gather = { nodes: peers, clients: room?.clients ?? [], need, op, evidence: userEvidence(req.credential, user), relay };
    const { winners, losers, failures } = await gatherParties(ctx, s, gather, async (p) => {
      const batch = parseSignCommitmentBatch(await s.expect(p, 'commit', ctx.stepTimeoutMs), p);
      return entries<SignCommitment>(batch.commitments, req.msgs.length, p, 'commitments');
    });
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('signing', winners.length + 1, key.threshold, failures);
    for (const [, commitments] of winners) commitments.forEach((c, i) => aggs[i]!.addCommitment(c));
    const signers = [ctx.self, ...winners.map(([p]) => p)];
    const packages = aggs.map((agg) => agg.signingPackage(signers));
    for (const [p] of winners) s.step(p, 'package', { v: 1, packages });
    const myShares = mine.map((signer, i) => signer.sign(packages[i]!));
    const theirs = await Promise.all(
      winners.map(async ([p]) => {
        const batch = parseSignatureShareBatch(await s.expect(p, 'share', ctx.stepTimeoutMs), p);
        return entries<SignatureShare>(batch.shares, req.msgs.length, p, 'shares');
      }),
    );
    const signatures = aggs.map((agg, i) => agg.aggregate([myShares[i]!, ...theirs.map((t) => t[i]!)]));
    await auditSigned(ctx, user.userId, key.keyId, req.family, s.id, req.msgs, signers);
    return signatures;
  } catch (e) {
    if (session) abortAll(session, [...peers, ...(room?.clients ?? [])], abortCodeFor(session));
    throw ceremonyError('signing', e);
  } finally {
    for (const m of mine) m.destroy();
    share.secretShare.fill(0);
    session?.close();
  }
}

/** This node's share of the key's child at `path` (the key itself for an empty path). */
function childShare(ctx: NodeContext, key: KeyRecord, suite: FrostSuite, path: number[]): FrostKeyShare {
  const root = openFrostShare(ctx, key);
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

export const participateSign: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  let signers: FrostSigner[] = [];
  let secret: Uint8Array | undefined;
  let reservation: Reservation | undefined;
  let why = 'refused or failed before committing';
  try {
    const op = invite.op as Record<string, unknown>;
    const family = String(op.family) as FrostFamily;
    try {
      const suite = frostSuite(family);
      let msgs: Uint8Array[];
      let path: number[];
      try {
        if (!Array.isArray(op.msgs) || op.msgs.length < 1 || op.msgs.length > ctx.maxBatch) throw new Error('no messages, or more than TANDEM_MAX_BATCH');
        msgs = op.msgs.map((m) => fromHex(String(m)));
        fromHex(String(op.extra_data ?? ''));
        if (!Array.isArray(op.path)) throw new Error('no path');
        path = parseDerivationPath(['m', ...op.path.map(Number)].join('/'));
      } catch {
        throw new ProtocolError('invitation with malformed messages or path', from);
      }
      checkInvitationMatches(invite.evidence, { kind: 'sign', family, keyId: String(op.key_id), msgs: op.msgs.map(String), path, extraData: String(op.extra_data ?? ''), room: op.room_uuid as string | undefined }, from);
      const user = await ctx.authenticateInvitation(invite.evidence);
      const key = await ownedKey(ctx, user, String(op.key_id), family);
      if (!key.parties.includes(from)) throw new ProtocolError('coordinator holds no share of this key', from);
      await joinRoomAsParticipant(ctx, session, user, op.room_uuid, key.threshold, key.keyId);
      reservation = await ctx.authorize({ ...signDecision(family, user.userId, key, msgs, path, fromHex(String(op.extra_data ?? ''))), ceremonyId: invite.ceremony });
      const share = childShare(ctx, key, suite, path);
      secret = share.secretShare;
      signers = msgs.map((m) => new FrostSigner(suite, share, m));
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, 'commit', { v: 1, commitments: signers.map((s) => s.commit()) });
    const batch = parseSigningPackageBatch(await session.expect(from, 'package', ctx.stepTimeoutMs), from);
    const packages = batch.packages as SigningPackage[];
    if (packages.length !== signers.length) throw new ProtocolError('signing packages do not match the invitation', from);
    session.step(from, 'share', { v: 1, shares: signers.map((s, i) => s.sign(packages[i]!, from)) });
    // Once the shares are out the coordinator can sign whatever it then says happened.
    reservation?.keep();
  } catch (e) {
    // Not being selected is the normal end for a t-of-n participant that answered late.
    why = e instanceof Error && /not_selected/.test(e.message) ? 'not selected' : 'the ceremony failed before this node signed';
    if (why !== 'not selected') ctx.log(`sign ${invite.ceremony}: ${(e as Error).message}`);
    abortAll(session, [from], 'participant_failed');
  } finally {
    await reservation?.release(why);
    for (const s of signers) s.destroy();
    secret?.fill(0);
    session.close();
  }
};
