import { randomBytes } from 'node:crypto';
import { wipe, type Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { combine, decodeRound3, encodeRound3, type EcdsaSignature } from '../../protocols/dkls23/sign/sign.js';
import { runDklsSign, type DklsSignStart } from '../../ceremony/dkls-sign-rounds.js';
import { PeerBannedError } from '../../ceremony/bans.js';
import { parseDerivationPath } from '../../protocols/frost/derive.js';
import { ProtocolError } from '../../protocols/errors.js';
import { fromHex, toHex } from '../../shared/hex.js';
import type { PartyId } from '../../shared/ids.js';
import type { KeyRecord, UserRecord } from '../../storage/store.js';
import type { Reservation } from '../policy-gate.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { abortAll, abortCodeFor, gatherParties, nodeHolders, openCeremony, ceremonyError, notEnoughParties, refuse, type NodeContext, type Participant } from './context.js';
import { checkEnoughSigners, claimRoom, joinRoomAsParticipant } from './rooms.js';
import { checkInvitationMatches } from '../signed-requests.js';
import { userEvidence } from '../caller-evidence.js';
import { canonical, checkOwnerIntent, parsePasskeyEvidence, type PasskeyEvidence } from '../passkey-owner.js';
import { auditSigned, signDecision } from './child-keys.js';
import { deriveDkls, openDklsShare } from './dkls-shares.js';
import { decodeItems } from '../../ceremony/exchange.js';
import { ownedKey } from './key-shares.js';

/**
 * DKLs23 signing across nodes, of one 32-byte hash or a batch. The coordinator invites
 * every other holder; each answers "ready" with a random contribution to the session id
 * after checking the caller and the key itself; the coordinator fixes the signing set
 * (the first t-1 ready, none of them banned) and every signer derives the session id
 * from all contributions, so no party can be made to reuse one. Then three rounds all to
 * all among the signers, and the partial results go to the coordinator, which combines
 * and verifies.
 */
export const DKLS_SIGN = 'dkls-sign';

export interface DklsSignRequest {
  credential: string;
  keyId: string;
  hashes: Uint8Array[];
  path: number[];
  extraData: Uint8Array;
  relay: string;
  /** A room whose client parties sign too (POST /create-room). */
  roomUuid?: string;
  /** For a key bound to its owner's passkey: the assertion over the end user's request. */
  passkeyEvidence?: PasskeyEvidence;
  /** Aborted when the HTTP caller disconnects: the ceremony is abandoned (openCeremony). */
  callerGone?: AbortSignal;
}

type Start = DklsSignStart;

export async function coordinateDklsSign(ctx: NodeContext, req: DklsSignRequest): Promise<{ signatures: EcdsaSignature[] }> {
  const user = await ctx.authenticateUser(req.credential);
  const key = await ownedKey(ctx, user, req.keyId, 'ecdsa');
  await checkOwnerOf(ctx, key.keyId, req.passkeyEvidence, req.hashes);
  const reservation = await ctx.authorize(signDecision('ecdsa', user.userId, key, req.hashes, req.path, req.extraData));
  return reservation.settle(() => signAuthorized(ctx, req, user, key));
}

async function signAuthorized(ctx: NodeContext, req: DklsSignRequest, user: UserRecord, key: KeyRecord): Promise<{ signatures: EcdsaSignature[] }> {
  const room = req.roomUuid === undefined ? undefined : await claimRoom(ctx, user, req.roomUuid, key.threshold, key.keyId);
  const relay = room?.room.relayAddress ?? req.relay;
  checkEnoughSigners(ctx, key, room);
  await ctx.bans.load(key.keyId);
  const clientBan = ctx.bans.bannedIn(key.keyId, room?.clients ?? []);
  if (clientBan) throw ceremonyError('signing', new PeerBannedError(clientBan.party, key.keyId, clientBan.reason));
  const share = openDklsShare(ctx, key);
  const child = deriveDkls(share.pub, req.path);
  let session: CeremonySession | undefined;
  const holders = [...nodeHolders(ctx, key.parties), ...(room?.clients ?? [])];
  try {
    const candidates = nodeHolders(ctx, key.parties).filter((p) => !ctx.bans.bannedIn(key.keyId, [p]));
    session = await openCeremony(ctx, relay, room?.channel, req.callerGone);
    const s = session;
    const op = {
      type: DKLS_SIGN,
      key_id: req.keyId,
      msgs: req.hashes.map(toHex),
      path: req.path,
      extra_data: toHex(req.extraData),
      ...(room ? { room_uuid: room.room.roomUuid } : {}),
      ...(req.passkeyEvidence ? { passkey_evidence: req.passkeyEvidence } : {}),
    };
    const need = key.threshold - 1;
    const gather = { nodes: candidates, clients: room?.clients ?? [], need, op, evidence: userEvidence(req.credential, user), relay };
    const { winners, losers, failures } = await gatherParties(ctx, s, gather, async (p) => {
      const body = (await s.expect(p, 'ready', ctx.stepTimeoutMs)) as { contribution?: unknown };
      if (typeof body?.contribution !== 'string' || !/^[0-9a-f]{64}$/.test(body.contribution)) throw new ProtocolError('malformed ready message', p);
      return body.contribution;
    });
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('signing', winners.length + 1, key.threshold, failures);
    const contributions: Record<string, string> = { [ctx.self]: toHex(new Uint8Array(randomBytes(32))) };
    for (const [p, c] of winners) contributions[p] = c;
    const start: Start = { signers: [ctx.self, ...winners.map(([p]) => p)].sort(), contributions };
    for (const [p] of winners) s.step(p, 'start', start);
    const seat = { session: s, share, keyId: key.keyId, coordinator: ctx.self, bans: ctx.bans, stepTimeoutMs: ctx.stepTimeoutMs };
    const mine = await runDklsSign(seat, start, req.hashes, req.path, child.tweak);
    const theirs = await Promise.all(
      winners.map(async ([p]) => decodeItems(await s.expect(p, 'r3', ctx.stepTimeoutMs), req.hashes.length, p, 'r3').map((b) => decodeRound3(b, p))),
    );
    const signatures = req.hashes.map((h, k) => combine(child.publicKey, h, [mine[k]!, ...theirs.map((t) => t[k]!)]));
    await auditSigned(ctx, user.userId, key.keyId, 'ecdsa', s.id, req.hashes, start.signers);
    return { signatures };
  } catch (e) {
    if (session) abortAll(session, holders, abortCodeFor(session));
    throw ceremonyError('signing', e);
  } finally {
    wipe(share);
    session?.close();
  }
}

export const participateDklsSign: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  let share: Dkls23KeyShare | undefined;
  let reservation: Reservation | undefined;
  let why = 'refused or failed before committing';
  try {
    const op = invite.op as Record<string, unknown>;
    let key: KeyRecord;
    let hashes: Uint8Array[];
    let path: number[];
    const contribution = toHex(new Uint8Array(randomBytes(32)));
    try {
      try {
        if (!Array.isArray(op.msgs) || op.msgs.length < 1 || op.msgs.length > ctx.maxBatch || !Array.isArray(op.path)) throw new Error('shape');
        hashes = op.msgs.map((m) => fromHex(String(m), 32));
        path = parseDerivationPath(['m', ...op.path.map(Number)].join('/'));
        fromHex(String(op.extra_data ?? ''));
      } catch {
        throw new ProtocolError('invitation with malformed messages, batch size or path', from);
      }
      const evidence = op.passkey_evidence === undefined ? undefined : parsePasskeyEvidence(op.passkey_evidence);
      if (op.passkey_evidence !== undefined && !evidence) throw new ProtocolError('invitation with malformed passkey evidence', from);
      // Checked before the nonce is spent (a mismatched invitation must not burn the request),
      // then spent here, on this node: one signed request admits one ceremony per node.
      checkInvitationMatches(invite.evidence, { kind: 'sign', family: 'ecdsa', keyId: String(op.key_id), msgs: (op.msgs as unknown[]).map(String), path, extraData: String(op.extra_data ?? ''), room: op.room_uuid as string | undefined, passkeyEvidence: canonical(evidence ?? null) }, from);
      const user = await ctx.authenticateInvitation(invite.evidence);
      key = await ownedKey(ctx, user, String(op.key_id), 'ecdsa');
      await checkOwnerOf(ctx, key.keyId, evidence, hashes);
      if (!key.parties.includes(from)) throw new ProtocolError('coordinator holds no share of this key', from);
      await joinRoomAsParticipant(ctx, session, user, op.room_uuid, key.threshold, key.keyId);
      await ctx.bans.check(key.keyId, [from]);
      reservation = await ctx.authorize({ ...signDecision('ecdsa', user.userId, key, hashes, path, fromHex(String(op.extra_data ?? ''))), ceremonyId: invite.ceremony });
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, 'ready', { contribution });
    const start = (await session.expect(from, 'start', ctx.stepTimeoutMs)) as Start;
    const signers = Array.isArray(start?.signers) ? start.signers.map(String) as PartyId[] : [];
    if (
      signers.length !== key.threshold ||
      !signers.includes(ctx.self) ||
      !signers.includes(from) ||
      !signers.every((p) => key.parties.includes(p)) ||
      start.contributions?.[ctx.self] !== contribution
    ) {
      throw new ProtocolError('start message with a bad signer set or without our contribution', from);
    }
    // Unsealed only once selected: a holder that is not chosen does no more than say ready.
    share = openDklsShare(ctx, key);
    const seat = { session, share, keyId: key.keyId, coordinator: from, bans: ctx.bans, stepTimeoutMs: ctx.stepTimeoutMs };
    const partials = await runDklsSign(seat, start, hashes, path, deriveDkls(share.pub, path).tweak);
    session.step(from, 'r3', partials.map((p) => Buffer.from(encodeRound3(p)).toString('base64')));
    // With the partials out the coordinator can sign whatever it then says happened; a send
    // refused (a ban seen meanwhile) gave nothing away, so that budget goes back.
    reservation?.keep();
  } catch (e) {
    why = e instanceof Error && /not_selected/.test(e.message) ? 'not selected' : 'the ceremony failed before this node signed';
    if (why !== 'not selected') ctx.log(`ecdsa sign ${invite.ceremony}: ${(e as Error).message}`);
    abortAll(session, [from], 'participant_failed');
  } finally {
    await reservation?.release(why);
    if (share) wipe(share);
    session.close();
  }
};

/** A key bound to its owner's passkey signs only what that passkey approved (passkey-owner.ts). */
async function checkOwnerOf(ctx: NodeContext, keyId: string, evidence: PasskeyEvidence | undefined, hashes: Uint8Array[]): Promise<void> {
  const owner = await ctx.keyPasskeys.ownerOf(keyId);
  if (owner) await checkOwnerIntent(keyId, owner, evidence, hashes, ctx.requestKeys);
}
