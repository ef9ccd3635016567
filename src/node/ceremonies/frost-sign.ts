import { parseSignatureShare, parseSignCommitment, parseSigningPackage } from '../../protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../protocols/frost/sign.js';
import { bip340Suite } from '../../protocols/frost/suite.js';
import { ProtocolError } from '../../protocols/errors.js';
import { fromHex, toHex } from '../../shared/hex.js';
import type { CeremonySession } from '../ceremony-session.js';
import { abortAll, type Participant, ceremonyError, firstResponders, notEnoughParties, refuse, type NodeContext } from './context.js';
import { openFrostShare, ownedKey } from './key-shares.js';

/**
 * FROST signing across nodes. The node that took the API call coordinates: it invites
 * every other holder of the key, signs with the first t-1 that commit (so a node that
 * is down costs nothing but its invitation), and aggregates. Each participant checks the
 * caller and the key itself before committing to anything.
 */
export interface SignRequest {
  credential: string;
  keyId: string;
  msg: Uint8Array;
  extraData: Uint8Array;
  relay: string;
}

const OP = 'bip340-sign';

export async function coordinateSign(ctx: NodeContext, req: SignRequest): Promise<Uint8Array> {
  const user = await ctx.authenticateUser(req.credential);
  const key = await ownedKey(ctx, user, req.keyId, 'bip340');
  const share = openFrostShare(ctx, key);
  const mine = new FrostSigner(bip340Suite, share, req.msg);
  let session: CeremonySession | undefined;
  const peers = key.parties.filter((p) => p !== ctx.self);
  try {
    session = await ctx.network.open(req.relay).catch((e: Error) => {
      throw new ProtocolError(`relay ${req.relay} unreachable: ${e.message}`);
    });
    const s = session;
    const op = { type: OP, key_id: req.keyId, msg: toHex(req.msg), extra_data: toHex(req.extraData) };
    await Promise.all(peers.map((p) => ctx.network.invite(s, p, op, req.credential, req.relay)));
    const agg = new FrostAggregator(bip340Suite, share.publicPackage, req.msg);
    agg.addCommitment(mine.commit());
    const need = key.threshold - 1;
    const { winners, losers, failures } = await firstResponders(peers, need, async (p) =>
      parseSignCommitment(await s.expect(p, 'commit', ctx.stepTimeoutMs), p),
    );
    abortAll(s, losers, 'not selected for this signature');
    if (winners.length < need) throw notEnoughParties('signing', winners.length + 1, key.threshold, failures);
    for (const [p, c] of winners) {
      if (c.from !== p) throw new ProtocolError('commitment carries another party id', p);
      agg.addCommitment(c);
    }
    const signers = [ctx.self, ...winners.map(([p]) => p)];
    const pkg = agg.signingPackage(signers);
    for (const [p] of winners) s.step(p, 'package', pkg);
    const myShare = mine.sign(pkg);
    const shares = await Promise.all(
      winners.map(async ([p]) => {
        const sh = parseSignatureShare(await s.expect(p, 'share', ctx.stepTimeoutMs), p);
        if (sh.from !== p) throw new ProtocolError('signature share carries another party id', p);
        return sh;
      }),
    );
    return agg.aggregate([myShare, ...shares]);
  } catch (e) {
    if (session) abortAll(session, peers, 'signing failed');
    throw ceremonyError('signing', e);
  } finally {
    mine.destroy();
    share.secretShare.fill(0);
    session?.close();
  }
}

export const participateSign: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  let signer: FrostSigner | undefined;
  let secret: Uint8Array | undefined;
  try {
    const op = invite.op as Record<string, unknown>;
    let msg: Uint8Array;
    try {
      msg = fromHex(String(op.msg));
      fromHex(String(op.extra_data ?? ''));
    } catch {
      throw new ProtocolError('invitation with a malformed message', from);
    }
    try {
      const user = await ctx.authenticateUser(invite.credential);
      const key = await ownedKey(ctx, user, String(op.key_id), 'bip340');
      if (!key.parties.includes(from)) throw new ProtocolError('coordinator holds no share of this key', from);
      const share = openFrostShare(ctx, key);
      secret = share.secretShare;
      signer = new FrostSigner(bip340Suite, share, msg);
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, 'commit', signer.commit());
    const pkg = parseSigningPackage(await session.expect(from, 'package', ctx.stepTimeoutMs), from);
    session.step(from, 'share', signer.sign(pkg));
  } catch (e) {
    // Not being selected is the normal end for a t-of-n participant that answered late.
    if (!(e instanceof Error && /not selected/.test(e.message))) ctx.log(`sign ${invite.ceremony}: ${(e as Error).message}`);
    abortAll(session, [from], 'participant failed');
  } finally {
    signer?.destroy();
    secret?.fill(0);
    session.close();
  }
};
