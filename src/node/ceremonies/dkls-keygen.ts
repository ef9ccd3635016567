import { randomUUID } from 'node:crypto';
import { Dkls23Dkg } from '../../protocols/dkls23/dkg/dkg.js';
import type { Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { wipe } from '../../protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../../protocols/dkls23/math/group.js';
import { ProtocolError } from '../../protocols/errors.js';
import { TandemError } from '../../shared/errors.js';
import { toHex } from '../../shared/hex.js';
import type { KeyId, PartyId } from '../../shared/ids.js';
import type { UserRecord } from '../../storage/store.js';
import { checkInvitationMatches } from '../signed-requests.js';
import type { CeremonySession } from '../ceremony-session.js';
import { abortAll, openCeremony, ceremonyError, firstResponders, notEnoughParties, refuse, type NodeContext, type Participant } from './context.js';
import { sealDklsShare } from './dkls-shares.js';
import { column, exchange } from './exchange.js';

/**
 * DKLs23 key generation across nodes (threshold ECDSA). The coordinator invites every
 * peer and takes the first n-1 that are ready; then all n parties run the four DKG rounds
 * all to all (private messages go party to party, sealed end to end), each stores its
 * sealed share, and the key is returned only when every party confirms the same key.
 */
export const DKLS_KEYGEN = 'dkls-keygen';

export interface DklsKeygenRequest {
  credential: string;
  n: number;
  t: number;
  relay: string;
}

/** DKG rounds run base OTs for every pair: allow them more than a plain step. */
const roundTimeout = (ctx: NodeContext) => Math.max(ctx.stepTimeoutMs, 60_000);

async function runDkg(ctx: NodeContext, s: CeremonySession, parties: PartyId[], t: number): Promise<Dkls23KeyShare> {
  const dkg = new Dkls23Dkg(ctx.self, parties, t);
  const others = dkg.others;
  const timeout = roundTimeout(ctx);
  const perPeer = (m: Map<PartyId, Uint8Array>) => new Map([...m].map(([p, b]) => [p, [b]]));
  try {
    const r1 = await exchange(s, others, 'r1', [dkg.round1()], timeout, 1);
    const r2 = await exchange(s, others, 'r2', perPeer(dkg.round2(column(r1, 0))), timeout, 1);
    const r3 = await exchange(s, others, 'r3', perPeer(dkg.round3(column(r2, 0))), timeout, 1);
    const r4 = await exchange(s, others, 'r4', [dkg.round4(column(r3, 0))], timeout, 1);
    return dkg.finish(column(r4, 0));
  } finally {
    dkg.destroy();
  }
}

interface Confirm {
  public_key: string;
  dkg_sid: string;
}
const confirmOf = (share: Dkls23KeyShare): Confirm => ({ public_key: toHex(encodePoint(share.pub.publicKey)), dkg_sid: toHex(share.pub.dkgSid) });

async function store(ctx: NodeContext, keyId: KeyId, user: UserRecord, share: Dkls23KeyShare): Promise<void> {
  try {
    if (!(await ctx.store.insertKey(sealDklsShare(ctx, keyId, user, share)))) throw new TandemError('unique_violation', `key ${keyId} exists already`);
  } finally {
    wipe(share);
  }
}

export async function coordinateDklsKeygen(ctx: NodeContext, req: DklsKeygenRequest): Promise<{ keyId: KeyId; publicKey: Uint8Array }> {
  const user = await ctx.authenticateUser(req.credential);
  await ctx.authorize({ operation: 'keygen', family: 'ecdsa', userId: user.userId, key: null });
  const keyId = randomUUID() as KeyId;
  const peers = ctx.network.peerIds;
  let session: CeremonySession | undefined;
  let chosen: PartyId[] = [];
  let stored = false;
  try {
    session = await openCeremony(ctx, req.relay);
    const s = session;
    const op = { type: DKLS_KEYGEN, key_id: keyId, n: req.n, t: req.t };
    await Promise.all(peers.map((p) => ctx.network.invite(s, p, op, req.credential, req.relay)));
    const { winners, losers, failures } = await firstResponders(peers, req.n - 1, (p) => s.expect(p, 'ready', ctx.stepTimeoutMs));
    abortAll(s, losers, 'not selected for this key');
    if (winners.length < req.n - 1) throw notEnoughParties('key generation', winners.length + 1, req.n, failures);
    chosen = winners.map(([p]) => p);
    const parties = [ctx.self, ...chosen].sort();
    for (const p of chosen) s.step(p, 'start', { parties });
    const share = await runDkg(ctx, s, parties, req.t);
    const mine = confirmOf(share);
    const publicKey = encodePoint(share.pub.publicKey);
    await store(ctx, keyId, user, share);
    stored = true;
    for (const p of chosen) {
      const c = (await s.expect(p, 'confirm', roundTimeout(ctx))) as Confirm;
      if (c?.public_key !== mine.public_key || c?.dkg_sid !== mine.dkg_sid) throw new ProtocolError(`${p} confirmed another key`);
    }
    for (const p of chosen) s.step(p, 'commit', {});
    return { keyId, publicKey };
  } catch (e) {
    if (session) abortAll(session, chosen.length ? chosen : peers, 'key generation failed');
    if (stored) await ctx.store.deleteKey(keyId);
    throw ceremonyError('key generation', e);
  } finally {
    session?.close();
  }
}

export const participateDklsKeygen: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  const op = invite.op as Record<string, unknown>;
  const keyId = String(op.key_id) as KeyId;
  let stored = false;
  try {
    let user: UserRecord;
    const n = Number(op.n);
    const t = Number(op.t);
    try {
      user = await ctx.authenticateUser(invite.credential);
      if (!/^[0-9a-f-]{36}$/.test(keyId) || !Number.isInteger(n) || !Number.isInteger(t) || t < 2 || t > n) {
        throw new ProtocolError('invitation with malformed parameters', from);
      }
      checkInvitationMatches(invite.credential, { kind: 'keygen', family: 'ecdsa', n, t }, from);
      await ctx.authorize({ operation: 'keygen', family: 'ecdsa', userId: user.userId, key: null, requestId: invite.ceremony });
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, 'ready', {});
    const start = (await session.expect(from, 'start', ctx.stepTimeoutMs)) as { parties?: unknown };
    const parties = Array.isArray(start?.parties) ? (start.parties.map(String) as PartyId[]) : [];
    const known = new Set([...ctx.network.peerIds, ctx.self]);
    if (parties.length !== n || !parties.includes(ctx.self) || !parties.includes(from) || !parties.every((p) => known.has(p))) {
      throw new ProtocolError('start message with a bad party list', from);
    }
    const share = await runDkg(ctx, session, parties, t);
    const confirm = confirmOf(share);
    await store(ctx, keyId, user, share);
    stored = true;
    session.step(from, 'confirm', confirm);
    await session.expect(from, 'commit', ctx.stepTimeoutMs);
  } catch (e) {
    const msg = (e as Error).message;
    if (!/not selected/.test(msg)) ctx.log(`ecdsa keygen ${invite.ceremony}: ${msg}`);
    // Only an explicit abort undoes a stored share: a lost 'commit' must not lose a key.
    if (stored && /aborted/.test(msg)) await ctx.store.deleteKey(keyId).catch(() => undefined);
    else abortAll(session, [from], 'participant failed');
  } finally {
    session.close();
  }
};
