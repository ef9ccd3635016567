import { createHash, randomBytes } from 'node:crypto';
import { Dkls23Error } from '../../protocols/dkls23/errors.js';
import { indexOf, wipe, type Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { signSid } from '../../protocols/dkls23/session/ids.js';
import { combine, decodeRound3, Dkls23Signer, encodeRound3, type EcdsaSignature, type SignRound3 } from '../../protocols/dkls23/sign/sign.js';
import { parseDerivationPath } from '../../protocols/frost/derive.js';
import { ProtocolError } from '../../protocols/errors.js';
import { fromHex, toHex } from '../../shared/hex.js';
import type { PartyId } from '../../shared/ids.js';
import type { KeyRecord } from '../../storage/store.js';
import type { CeremonySession } from '../ceremony-session.js';
import { abortAll, openCeremony, ceremonyError, firstResponders, notEnoughParties, refuse, type NodeContext, type Participant } from './context.js';
import { checkInvitationMatches } from '../signed-requests.js';
import { signDecision } from './child-keys.js';
import { deriveDkls, isBanned, openDklsShare, recordBan } from './dkls-shares.js';
import { column, decodeItems, exchange } from './exchange.js';
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
}

interface Start {
  signers: PartyId[];
  contributions: Record<string, string>;
}

/** Rounds 1-3 from one signer's view; returns its round-3 partial for every message. */
async function runSign(
  ctx: NodeContext,
  s: CeremonySession,
  key: KeyRecord,
  share: Dkls23KeyShare,
  start: Start,
  hashes: Uint8Array[],
  path: number[],
  tweak: bigint,
): Promise<SignRound3[]> {
  const nonce = createHash('sha256');
  for (const p of start.signers) nonce.update(fromHex(start.contributions[p] ?? '', 32));
  const sid = signSid({
    dkgSid: share.pub.dkgSid,
    epoch: share.pub.epoch,
    signers: start.signers.map((p) => indexOf(share.pub, p)),
    path,
    nonce: new Uint8Array(nonce.digest()),
  });
  // One independent DKLs23 session per message, each under its own sub-session id.
  const signers = hashes.map((h, k) => new Dkls23Signer(share, start.signers, subSid(sid, k), h, tweak));
  const others = signers[0]!.others;
  const n = hashes.length;
  const byPeer = (rounds: Array<Map<PartyId, Uint8Array>>) => new Map(others.map((p) => [p, rounds.map((r) => r.get(p)!)]));
  try {
    const r1 = await exchange(s, others, 'r1', byPeer(signers.map((x) => x.round1())), ctx.stepTimeoutMs, n);
    const r2 = await exchange(s, others, 'r2', byPeer(signers.map((x, k) => x.round2(column(r1, k)))), ctx.stepTimeoutMs, n);
    return await Promise.all(signers.map(async (x, k) => x.round3(column(r2, k))));
  } catch (e) {
    if (e instanceof Dkls23Error && e.kind === 'ban' && e.culprit) await recordBan(ctx, key.keyId, e.culprit, e.reason);
    throw e;
  } finally {
    for (const x of signers) x.destroy();
  }
}

function subSid(sid: Uint8Array, k: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update('tandem/dkls23/v1/batch-item').update(sid).update(String(k)).digest());
}

export async function coordinateDklsSign(ctx: NodeContext, req: DklsSignRequest): Promise<{ signatures: EcdsaSignature[] }> {
  const user = await ctx.authenticateUser(req.credential);
  const key = await ownedKey(ctx, user, req.keyId, 'ecdsa');
  await ctx.authorize(signDecision('ecdsa', user.userId, key, req.hashes, req.path, req.extraData));
  const share = openDklsShare(ctx, key);
  const child = deriveDkls(share.pub, req.path);
  let session: CeremonySession | undefined;
  const holders = key.parties.filter((p) => p !== ctx.self);
  try {
    const candidates: PartyId[] = [];
    for (const p of holders) if (!(await isBanned(ctx, key.keyId, p))) candidates.push(p);
    session = await openCeremony(ctx, req.relay);
    const s = session;
    const op = { type: DKLS_SIGN, key_id: req.keyId, msgs: req.hashes.map(toHex), path: req.path, extra_data: toHex(req.extraData) };
    await Promise.all(candidates.map((p) => ctx.network.invite(s, p, op, req.credential, req.relay)));
    const need = key.threshold - 1;
    const { winners, losers, failures } = await firstResponders(candidates, need, async (p) => {
      const body = (await s.expect(p, 'ready', ctx.stepTimeoutMs)) as { contribution?: unknown };
      if (typeof body?.contribution !== 'string' || !/^[0-9a-f]{64}$/.test(body.contribution)) throw new ProtocolError('malformed ready message', p);
      return body.contribution;
    });
    abortAll(s, losers, 'not selected for this signature');
    if (winners.length < need) throw notEnoughParties('signing', winners.length + 1, key.threshold, failures);
    const contributions: Record<string, string> = { [ctx.self]: toHex(new Uint8Array(randomBytes(32))) };
    for (const [p, c] of winners) contributions[p] = c;
    const start: Start = { signers: [ctx.self, ...winners.map(([p]) => p)].sort(), contributions };
    for (const [p] of winners) s.step(p, 'start', start);
    const mine = await runSign(ctx, s, key, share, start, req.hashes, req.path, child.tweak);
    const theirs = await Promise.all(
      winners.map(async ([p]) => decodeItems(await s.expect(p, 'r3', ctx.stepTimeoutMs), req.hashes.length, p, 'r3').map((b) => decodeRound3(b, p))),
    );
    const signatures = req.hashes.map((h, k) => combine(child.publicKey, h, [mine[k]!, ...theirs.map((t) => t[k]!)]));
    return { signatures };
  } catch (e) {
    if (session) abortAll(session, holders, 'signing failed');
    throw ceremonyError('signing', e);
  } finally {
    wipe(share);
    session?.close();
  }
}

export const participateDklsSign: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  let share: Dkls23KeyShare | undefined;
  try {
    const op = invite.op as Record<string, unknown>;
    let key: KeyRecord;
    let hashes: Uint8Array[];
    let path: number[];
    const contribution = toHex(new Uint8Array(randomBytes(32)));
    try {
      try {
        if (!Array.isArray(op.msgs) || op.msgs.length < 1 || !Array.isArray(op.path)) throw new Error('shape');
        hashes = op.msgs.map((m) => fromHex(String(m), 32));
        path = parseDerivationPath(['m', ...op.path.map(Number)].join('/'));
        fromHex(String(op.extra_data ?? ''));
      } catch {
        throw new ProtocolError('invitation with malformed messages or path', from);
      }
      const user = await ctx.authenticateUser(invite.credential);
      checkInvitationMatches(invite.credential, { kind: 'sign', family: 'ecdsa', keyId: String(op.key_id), msgs: (op.msgs as unknown[]).map(String), path, extraData: String(op.extra_data ?? '') }, from);
      key = await ownedKey(ctx, user, String(op.key_id), 'ecdsa');
      if (!key.parties.includes(from)) throw new ProtocolError('coordinator holds no share of this key', from);
      if (await isBanned(ctx, key.keyId, from)) throw new ProtocolError('coordinator is banned for this key', from);
      await ctx.authorize({ ...signDecision('ecdsa', user.userId, key, hashes, path, fromHex(String(op.extra_data ?? ''))), requestId: invite.ceremony });
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
    for (const p of signers) if (p !== ctx.self && (await isBanned(ctx, key.keyId, p))) throw new ProtocolError(`signer ${p} is banned for this key`);
    // Unsealed only once selected: a holder that is not chosen does no more than say ready.
    share = openDklsShare(ctx, key);
    const partials = await runSign(ctx, session, key, share, start, hashes, path, deriveDkls(share.pub, path).tweak);
    session.step(from, 'r3', partials.map((p) => Buffer.from(encodeRound3(p)).toString('base64')));
  } catch (e) {
    if (!(e instanceof Error && /not selected/.test(e.message))) ctx.log(`ecdsa sign ${invite.ceremony}: ${(e as Error).message}`);
    abortAll(session, [from], 'participant failed');
  } finally {
    if (share) wipe(share);
    session.close();
  }
};
