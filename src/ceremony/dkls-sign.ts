import { randomBytes } from '@noble/hashes/utils.js';
import { toHex } from '../core/hex.js';
import { toBase64 } from '#protocols/platform';
import { derivePublic } from '../protocols/derivation/bip32.js';
import { wipe, type Dkls23KeyShare, type Dkls23Public } from '../protocols/dkls23/keyshare/keyshare.js';
import { combine, decodeRound3, encodeRound3, type EcdsaSignature } from '../protocols/dkls23/sign/sign.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import { PeerBannedError } from './bans.js';
import { decodeItems } from './exchange.js';
import { runDklsSign, type DklsSignStart } from './dkls-sign-rounds.js';
import { OP, STEP, signInputs, type DklsSignOp } from './operations.js';
import { abortAll, abortCodeFor, ceremonyError, gatherParties, notEnoughParties } from './outcomes.js';
import { joinSign } from './participant.js';
import { checkParties, parseDklsReady, parseDklsSignStart } from './parties.js';
import type { CoordinatorSeat, ParticipantSeat, ShareVault, SigningKey } from './ports.js';
import type { CeremonySession } from './session.js';

/**
 * DKLs23 signing, of one 32-byte hash or a batch. The coordinator invites every other
 * holder (and the room's clients); each answers "ready" with a random contribution to the
 * session id once it has decided to take part; the coordinator fixes the signing set (the
 * first t-1 ready, none of them banned) and every signer derives the session id from all
 * contributions, so no party can be made to reuse one. Then three rounds all to all among
 * the signers (dkls-sign-rounds.ts, where the bans hold), and the partial results go to the
 * coordinator, which combines and verifies.
 */
export async function coordinateDklsSign(
  seat: CoordinatorSeat,
  /** `passkeyEvidence`: carried to every node as is (passkey-bound keys, passkey-owner.ts). */
  req: { key: SigningKey; hashes: Uint8Array[]; path: number[]; extraData: Uint8Array; passkeyEvidence?: unknown },
  vault: ShareVault<Dkls23KeyShare>,
): Promise<EcdsaSignature[]> {
  const { key } = req;
  const clients = seat.room?.clients ?? [];
  await seat.bans.load(key.keyId);
  const clientBan = seat.bans.bannedIn(key.keyId, clients);
  if (clientBan) throw ceremonyError('signing', new PeerBannedError(clientBan.party, key.keyId, clientBan.reason));
  const share = await vault.open(key.keyId);
  const child = deriveChild(share.pub, req.path);
  let session: CeremonySession | undefined;
  const nodeHolders = key.parties.filter((p) => p !== seat.self && seat.peers.nodes.includes(p));
  const holders = [...nodeHolders, ...clients];
  try {
    const candidates = nodeHolders.filter((p) => !seat.bans.bannedIn(key.keyId, [p]));
    session = await seat.open();
    const s = session;
    const op: DklsSignOp = {
      type: OP.dklsSign,
      key_id: key.keyId,
      msgs: req.hashes.map(toHex),
      path: req.path,
      extra_data: toHex(req.extraData),
      ...(seat.room ? { room_uuid: seat.room.uuid } : {}),
      ...(req.passkeyEvidence !== undefined ? { passkey_evidence: req.passkeyEvidence } : {}),
    };
    const need = key.threshold - 1;
    const { winners, losers, failures } = await gatherParties(s, seat.peers, { nodes: candidates, clients, need, op }, async (p) =>
      parseDklsReady(await s.expect(p, STEP.ready, seat.stepTimeoutMs), p).contribution,
    );
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('signing', winners.length + 1, key.threshold, failures);
    const contributions: Record<string, string> = { [seat.self]: toHex(randomBytes(32)) };
    for (const [p, c] of winners) contributions[p] = c;
    const start: DklsSignStart = { signers: [seat.self, ...winners.map(([p]) => p)].sort(), contributions };
    for (const [p] of winners) s.step(p, STEP.start, start);
    const rounds = { session: s, share, keyId: key.keyId, coordinator: seat.self, bans: seat.bans, stepTimeoutMs: seat.stepTimeoutMs };
    const mine = await runDklsSign(rounds, start, req.hashes, req.path, child.tweak);
    const theirs = await Promise.all(
      winners.map(async ([p]) => decodeItems(await s.expect(p, STEP.r3, seat.stepTimeoutMs), req.hashes.length, p, STEP.r3).map((b) => decodeRound3(b, p))),
    );
    const signatures = req.hashes.map((h, k) => combine(child.publicKey, h, [mine[k]!, ...theirs.map((t) => t[k]!)]));
    await seat.audit.signed({ ceremony: s.id, keyId: key.keyId, family: 'ecdsa', msgs: req.hashes, signers: start.signers });
    return signatures;
  } catch (e) {
    if (session) abortAll(session, holders, abortCodeFor(session));
    throw ceremonyError('signing', e);
  } finally {
    wipe(share);
    session?.close();
  }
}

/**
 * A participant's side. A coordinator this party has banned for the key gets nothing, not
 * even a ready; then admitted, ready with a fresh contribution, the start message checked
 * (a signing set of the key's holders with this party and the coordinator in it, and this
 * party's contribution), the share opened only once selected, the three rounds, and the
 * partials to the coordinator. Once those are out, what it reserved stays spent; a send
 * refused (a ban seen meanwhile) gave nothing away, so that budget goes back.
 */
export async function participateDklsSign(seat: ParticipantSeat, op: DklsSignOp, vault: ShareVault<Dkls23KeyShare>): Promise<void> {
  const { session: s, coordinator: from } = seat;
  const contribution = toHex(randomBytes(32));
  let share: Dkls23KeyShare | undefined;
  try {
    await joinSign(seat, op, {
      async enter(admit) {
        const inputs = signInputs(op, seat.maxBatch, from);
        await seat.bans.check(op.key_id, [from]);
        await admit();
        return inputs;
      },
      async rounds({ admission, entered: inputs }) {
        s.step(from, STEP.ready, { contribution });
        const start = parseDklsSignStart(await s.expect(from, STEP.start, seat.stepTimeoutMs), from);
        const signers = start.signers as PartyId[];
        const key = admission.key;
        if (!key || !signers.every((p) => key.parties.includes(p)) || start.contributions[s.self] !== contribution) {
          throw new ProtocolError('start message with a bad signer set or without our contribution', from);
        }
        checkParties(s.self, from, admission, signers, key.threshold);
        // Unsealed only once selected: a holder that is not chosen does no more than say ready.
        const opened = await vault.open(op.key_id);
        share = opened;
        const rounds = { session: s, share: opened, keyId: op.key_id, coordinator: from, bans: seat.bans, stepTimeoutMs: seat.stepTimeoutMs };
        const partials = await runDklsSign(rounds, { signers, contributions: start.contributions }, inputs.msgs, inputs.path, deriveChild(opened.pub, inputs.path).tweak);
        s.step(from, STEP.r3, partials.map((p) => toBase64(encodeRound3(p))));
      },
    });
  } finally {
    if (share) wipe(share);
  }
}

/** The child of an ecdsa key at a non-hardened path: public key, chain code and tweak δ. */
export function deriveChild(pub: Dkls23Public, path: readonly number[]) {
  return derivePublic({ publicKey: pub.publicKey, chainCode: pub.chainCode }, path);
}
