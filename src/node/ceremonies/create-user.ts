import { TandemError } from '../../core/errors.js';
import { fromHex, toHex } from '../../core/hex.js';
import type { PartyId, UserId } from '../../core/ids.js';
import { parseRequestPublicKey, type RequestKeyType } from '../../api/request-signature.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { hashApiKey, newApiKey, newUserId } from '../../api/api-keys.js';
import { ProtocolError } from '../../protocols/errors.js';
import { abortAll, asPeerFailure, ceremonyError } from '../../ceremony/outcomes.js';
import { isCreateUserOp, OP, STEP, type CreateUserOp } from '../../ceremony/operations.js';
import type { AdminPrincipal } from '../caller-evidence.js';
import { type Participant, participateInsert, type NodeContext } from './context.js';

/**
 * A user exists on every node of the cluster, so that every node can check the caller of
 * a ceremony itself. The node that takes `create-user` makes the id and key, stores the
 * key's hash, and has every peer store it too. The admin's credential never travels: a
 * peer gets the admin's signed request, which it verifies against its pinned admin key, or
 * the coordinator's word, which it takes only without a pinned key (caller-auth.ts). All or
 * nothing: if any peer can't confirm, the user is removed everywhere.
 */
export async function coordinateCreateUser(
  ctx: NodeContext,
  admin: AdminPrincipal,
  requestKey?: { type: RequestKeyType; publicKey: Uint8Array },
): Promise<{ userId: UserId; apiKey: string }> {
  const userId = newUserId();
  const apiKey = newApiKey(userId);
  const apiKeyHash = hashApiKey(apiKey);
  if (!(await ctx.store.insertUser({ userId, apiKeyHash, createdAt: new Date() }))) {
    throw new TandemError('unique_violation', 'user id collision; retry');
  }
  if (requestKey) await ctx.requestKeys.setKey(userId, requestKey.type, requestKey.publicKey);
  const peers = ctx.network.peerIds;
  let session: CeremonySession | undefined;
  try {
    session = await ctx.network.open(ctx.network.defaultRelay);
    const s = session;
    const op: CreateUserOp = {
      type: OP.createUser,
      user_id: userId,
      api_key_hash: toHex(apiKeyHash),
      ...(requestKey ? { request_key: { type: requestKey.type, key: toHex(requestKey.publicKey) } } : {}),
    };
    await Promise.all(peers.map((p) => ctx.network.invite(s, p, op, admin.evidence, ctx.network.defaultRelay)));
    const results = await Promise.allSettled(peers.map((p) => s.expect(p, STEP.created, ctx.stepTimeoutMs)));
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [asPeerFailure(peers[i]!, r.reason)] : []));
    if (failures.length) {
      abortAll(s, peers, 'ceremony_failed');
      const detail = failures.map((f) => `${f.party}: ${f.reason}`).join('; ');
      const [first] = failures;
      const type = failures.every((f) => f.errType === first?.errType) && first?.errType ? first.errType : 'internal_problem';
      throw new TandemError(type, `user not created: every node must store it (${detail})`);
    }
    for (const p of peers) s.step(p, STEP.commit, {});
    return { userId, apiKey };
  } catch (e) {
    await ctx.store.deleteUser(userId);
    throw ceremonyError('user creation', e);
  } finally {
    session?.close();
  }
}

export const participateCreateUser: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  const raw = invite.op;
  const insert = async () => {
    const signed = await ctx.callers.invitedAdmin(invite.evidence);
    if (!isCreateUserOp(raw)) throw new TandemError('bad_request_params', 'malformed user');
    const op: CreateUserOp = raw;
    const userId = op.user_id as UserId;
    const rk = op.request_key;
    const requestKey = rk === undefined ? undefined : parseRequestPublicKey(rk.type, rk.key);
    if (rk !== undefined && !requestKey) throw new TandemError('bad_request_params', 'malformed request key');
    if (signed) checkSignedCreateUser(signed, requestKey, from);
    if (!(await ctx.store.insertUser({ userId, apiKeyHash: fromHex(op.api_key_hash, 32), createdAt: new Date() }))) throw new TandemError('unique_violation', `user ${userId} exists already`);
    if (requestKey) await ctx.requestKeys.setKey(userId, requestKey.type, requestKey.publicKey);
  };
  // Only what this participant inserted is undone (insert refused a malformed operation before storing anything).
  await participateInsert(ctx, session, from, STEP.created, insert, () => ctx.store.deleteUser(String((raw as { user_id?: unknown }).user_id) as UserId));
};

/**
 * The admin signed "create a user with this request key": a coordinator may not use it for
 * another key (it would then sign as that user), nor for another operation.
 */
function checkSignedCreateUser(signed: { method: string; path: string; body: string }, requestKey: { type: string; publicKey: Uint8Array } | undefined, coordinator: PartyId): void {
  const mismatch = (what: string) => new ProtocolError(`invitation does not match the admin's signed request (${what})`, coordinator);
  if (signed.method !== 'POST' || signed.path.split('?')[0] !== '/admin/create-user') throw mismatch('operation');
  let body: { public_key?: { type?: unknown; key?: unknown } } = {};
  try {
    if (signed.body !== '') body = JSON.parse(signed.body) as typeof body;
  } catch {
    throw mismatch('body');
  }
  const given = body?.public_key;
  const same = given === undefined ? requestKey === undefined : requestKey !== undefined && given.type === requestKey.type && String(given.key).toLowerCase() === toHex(requestKey.publicKey);
  if (!same) throw mismatch('public_key');
}
