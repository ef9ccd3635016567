import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { toBase64 } from '#protocols/platform';
import { dklsConfirmOf, runDklsDkg } from '../../ceremony/dkls-dkg-rounds.js';
import { runDklsSign, type DklsSignStart } from '../../ceremony/dkls-sign-rounds.js';
import { PeerBannedError, type BanList } from '../../ceremony/bans.js';
import { Dkls23Error } from '../../protocols/dkls23/errors.js';
import { exchangeDkgShares } from '../../ceremony/frost-dkg-rounds.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { derivePublic } from '../../protocols/dkls23/bip32/derive.js';
import { wipe, type Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { encodeRound3 } from '../../protocols/dkls23/sign/sign.js';
import { ProtocolError } from '../../protocols/errors.js';
import { deriveFrostShare } from '../../protocols/frost/derive.js';
import { FrostDkg } from '../../protocols/frost/dkg.js';
import type { FrostKeyShare } from '../../protocols/frost/key-share.js';
import { parseDkgRound1Set, parseSigningPackageBatch, type SigningPackage } from '../../protocols/frost/messages.js';
import { FrostSigner } from '../../protocols/frost/sign.js';
import { FROST_SUITES, type FrostFamily } from '../../protocols/frost/suite.js';
import type { PartyId } from '../../shared/ids.js';

/**
 * A room client's side of each ceremony, run against the node that coordinates it: the same
 * messages a node participant exchanges (src/node/ceremonies), over the same shared rounds
 * (src/ceremony), without a node's authentication or policy. Instead the client checks that
 * the coordinator's invitation is exactly the operation it asked for, and that every other
 * party is a node it knows.
 */

export interface ClientCeremony {
  session: CeremonySession;
  self: PartyId;
  /** The node the client sent its keygen or sign to. */
  coordinator: PartyId;
  /** Every node the client may meet in a ceremony. */
  nodes: ReadonlySet<PartyId>;
  roomUuid: string;
  timeoutMs: number;
  /** The device's bans (one list per share store, so every ceremony of the app sees a ban at once). */
  bans: BanList;
}

/** The coordinator's invitation; anything but the operation the client asked for is refused. */
async function expectInvite(c: ClientCeremony, expected: Record<string, unknown>): Promise<Record<string, unknown>> {
  const body = (await c.session.expect(c.coordinator, 'invite', c.timeoutMs)) as { op?: Record<string, unknown> };
  const op = body?.op;
  if (!op || typeof op !== 'object') throw new ProtocolError('malformed invitation', c.coordinator);
  for (const [k, v] of Object.entries(expected)) {
    if (JSON.stringify(op[k]) !== JSON.stringify(v)) throw new ProtocolError(`invitation is not the operation asked for (${k})`, c.coordinator);
  }
  if (typeof op.key_id !== 'string' || !/^[0-9a-f-]{36}$/.test(op.key_id)) throw new ProtocolError('invitation without a key id', c.coordinator);
  return op;
}

function checkParties(c: ClientCeremony, parties: PartyId[], count: number): PartyId[] {
  const others = parties.filter((p) => p !== c.self);
  if (parties.length !== count || others.length !== count - 1 || !parties.includes(c.coordinator) || !others.every((p) => c.nodes.has(p))) {
    throw new ProtocolError('the party list is not this client and known nodes', c.coordinator);
  }
  return others;
}

/** Calls `store` once the share exists, before confirming it: a key the nodes return is never one the client lost. */
export type KeepShare<S> = (keyId: string, share: S) => Promise<void>;

async function finishKeygen(c: ClientCeremony, confirm: unknown, stored: () => Promise<void>): Promise<void> {
  c.session.step(c.coordinator, 'confirm', confirm);
  try {
    await c.session.expect(c.coordinator, 'commit', c.timeoutMs);
  } catch (e) {
    // Only the coordinator's explicit abort undoes the key; a lost commit keeps the share.
    if (/aborted/.test((e as Error).message)) await stored();
    throw e;
  }
}

export async function frostKeygenAsClient(
  c: ClientCeremony,
  req: { family: FrostFamily; n: number; t: number },
  keep: KeepShare<FrostKeyShare>,
  forget: (keyId: string) => Promise<void>,
): Promise<{ keyId: string }> {
  const op = await expectInvite(c, { type: 'frost-keygen', family: req.family, n: req.n, t: req.t, room_uuid: c.roomUuid });
  const keyId = op.key_id as string;
  const dkg = new FrostDkg(FROST_SUITES[req.family], c.self, req.t, req.n);
  try {
    c.session.step(c.coordinator, 'r1', dkg.round1());
    const set = parseDkgRound1Set(await c.session.expect(c.coordinator, 'r1set', c.timeoutMs), c.coordinator);
    const others = checkParties(c, set.packages.map((p) => p.from as PartyId), req.n);
    const { share, confirm } = await exchangeDkgShares(c.session, dkg, dkg.round2(set, c.coordinator), others, c.timeoutMs);
    try {
      await keep(keyId, share);
    } finally {
      share.secretShare.fill(0);
    }
    await finishKeygen(c, confirm, () => forget(keyId));
    return { keyId };
  } finally {
    dkg.destroy();
  }
}

export async function frostSignAsClient(
  c: ClientCeremony,
  req: { family: FrostFamily; keyId: string; msgs: Uint8Array[]; path: number[]; extraData: Uint8Array },
  root: FrostKeyShare,
): Promise<void> {
  await expectInvite(c, {
    type: 'frost-sign',
    family: req.family,
    key_id: req.keyId,
    path: req.path,
    msgs: req.msgs.map(bytesToHex),
    extra_data: bytesToHex(req.extraData),
    room_uuid: c.roomUuid,
  });
  const share = deriveFrostShare(FROST_SUITES[req.family], root, req.path);
  const signers = req.msgs.map((m) => new FrostSigner(FROST_SUITES[req.family], share, m));
  try {
    c.session.step(c.coordinator, 'commit', { v: 1, commitments: signers.map((s) => s.commit()) });
    const batch = parseSigningPackageBatch(await c.session.expect(c.coordinator, 'package', c.timeoutMs), c.coordinator);
    const packages = batch.packages as SigningPackage[];
    if (packages.length !== signers.length) throw new ProtocolError('signing packages do not match the request', c.coordinator);
    c.session.step(c.coordinator, 'share', { v: 1, shares: signers.map((s, i) => s.sign(packages[i]!, c.coordinator)) });
  } finally {
    for (const s of signers) s.destroy();
    share.secretShare.fill(0);
  }
}

export async function dklsKeygenAsClient(
  c: ClientCeremony,
  req: { n: number; t: number },
  keep: KeepShare<Dkls23KeyShare>,
  forget: (keyId: string) => Promise<void>,
): Promise<{ keyId: string }> {
  const op = await expectInvite(c, { type: 'dkls-keygen', n: req.n, t: req.t, room_uuid: c.roomUuid });
  const keyId = op.key_id as string;
  c.session.step(c.coordinator, 'ready', {});
  const start = (await c.session.expect(c.coordinator, 'start', c.timeoutMs)) as { parties?: unknown };
  const parties = Array.isArray(start?.parties) ? (start.parties.map(String) as PartyId[]) : [];
  checkParties(c, parties, req.n);
  const share = await runDklsDkg(c.session, c.self, parties, req.t, c.timeoutMs);
  const confirm = dklsConfirmOf(share);
  try {
    await keep(keyId, share);
  } finally {
    wipe(share);
  }
  await finishKeygen(c, confirm, () => forget(keyId));
  return { keyId };
}

export async function dklsSignAsClient(
  c: ClientCeremony,
  req: { keyId: string; hashes: Uint8Array[]; path: number[]; extraData: Uint8Array },
  share: Dkls23KeyShare,
): Promise<void> {
  await expectInvite(c, {
    type: 'dkls-sign',
    key_id: req.keyId,
    msgs: req.hashes.map(bytesToHex),
    path: req.path,
    extra_data: bytesToHex(req.extraData),
    room_uuid: c.roomUuid,
  });
  // A banned coordinator gets nothing more from us, not even a ready.
  await c.bans.check(req.keyId, [c.coordinator]);
  const contribution = bytesToHex(randomBytes(32));
  c.session.step(c.coordinator, 'ready', { contribution });
  const start = (await c.session.expect(c.coordinator, 'start', c.timeoutMs)) as DklsSignStart;
  const signers = Array.isArray(start?.signers) ? (start.signers.map(String) as PartyId[]) : [];
  checkParties(c, signers, share.pub.threshold);
  if (start.contributions?.[c.self] !== contribution) throw new ProtocolError('start message without our contribution', c.coordinator);
  const tweak = derivePublic({ publicKey: share.pub.publicKey, chainCode: share.pub.chainCode }, req.path).tweak;
  const seat = { session: c.session, share, keyId: req.keyId, coordinator: c.coordinator, bans: c.bans, stepTimeoutMs: c.timeoutMs };
  let partials;
  try {
    partials = await runDklsSign(seat, { signers, contributions: start.contributions }, req.hashes, req.path, tweak);
  } catch (e) {
    // Already recorded in the device's store by runDklsSign; the app gets it as a typed error.
    if (e instanceof Dkls23Error && e.kind === 'ban' && e.culprit) throw new PeerBannedError(e.culprit, req.keyId, e.reason);
    throw e;
  }
  c.session.step(c.coordinator, 'r3', partials.map((p) => toBase64(encodeRound3(p))));
}
