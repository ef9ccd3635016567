import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { loadOrCreateIdentity, type Identity } from '../../src/crypto/identity.js';
import { participate as participateDklsSign } from '../../src/node/ceremonies/participants.js';
import { encodeEnvelope, envelopeOf, SignedRequestVerifier } from '../../src/node/signed-requests.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { toHex } from '../../src/core/hex.js';
import type { CeremonyId, KeyId, PartyId } from '../../src/core/ids.js';
import { signRequest } from '../../src/api/request-signature.js';
import { RequestAuthStore } from '../../src/storage/request-auth-store.js';
import { TandemError } from '../../src/core/errors.js';
import { runDkls23Dkg } from '../helpers/dkls23.js';
import { MemoryLink, nodeSeat, OWNER, sessionsOf, signInvite, type NodeSeat } from './node-seat.js';

/**
 * A malicious coordinator against the real node participant code (issue 11, findings 3-5):
 * it can't make honest signers blame or ban each other by telling them different things,
 * can't put one signed request into more than one ceremony per node, and can't invite a
 * node to a batch the user did not sign or the node does not allow.
 */
const [EVIL, A, B] = ['node-1', 'node-2', 'node-3'] as [PartyId, PartyId, PartyId];

describe('DKLs23: a malicious coordinator', { timeout: 240_000 }, () => {
  let root: string;
  let ids: Identity[];
  let shares: Dkls23KeyShare[];
  const keyId = randomUUID() as KeyId;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-coord-'));
    ids = await Promise.all([EVIL, A, B].map((id) => loadOrCreateIdentity(id, join(root, `${id}.key`))));
    // 3-of-3: both honest parties sign with the coordinator and with each other.
    shares = runDkls23Dkg([EVIL, A, B], 3);
  });

  after(() => rm(root, { recursive: true, force: true }));

  /**
   * Invites A and B with what `views` says (messages, and the coordinator's own contribution in
   * the start message), answers as a silent coordinator would, and returns both seats' logs.
   */
  async function equivocate(views: Record<string, { msgs: string[]; contribution: string }>): Promise<{ a: NodeSeat; b: NodeSeat }> {
    const a = await nodeSeat(root, A, keyId, shares[1]!);
    const b = await nodeSeat(root, B, keyId, shares[2]!);
    try {
      const sessions = sessionsOf(new MemoryLink(), ids);
      const evil = sessions.get(EVIL)!;
      const runs = [a, b].map((seat) => participateDklsSign(seat.ctx, signInvite(evil.id, keyId, views[seat.ctx.self]!.msgs), EVIL, async () => sessions.get(seat.ctx.self)!));
      const ready = await Promise.all([A, B].map(async (p) => ((await evil.expect(p, 'ready', 10_000)) as { contribution: string }).contribution));
      for (const p of [A, B]) {
        const contributions = { [EVIL]: views[p]!.contribution, [A]: ready[0]!, [B]: ready[1]! };
        evil.step(p, 'start', { signers: [EVIL, A, B], contributions });
      }
      await Promise.all(runs);
      return { a, b };
    } catch (e) {
      await a.close();
      await b.close();
      throw e;
    }
  }

  async function assertNobodyBlamedOrBanned(a: NodeSeat, b: NodeSeat) {
    try {
      for (const [seat, other] of [[a, B], [b, A]] as const) {
        const log = seat.logs.join('\n');
        assert.match(log, /signers disagree on the session or the messages/, log);
        assert.doesNotMatch(log, new RegExp(`party ${other}:`), `${seat.ctx.self} must not blame ${other}: ${log}`);
        assert.deepEqual(seat.bans.saved, [], `${seat.ctx.self} banned nobody`);
        assert.deepEqual(await seat.ctx.bans.load(keyId), []);
      }
    } finally {
      await a.close();
      await b.close();
    }
  }

  test('different batch sizes to two signers: both abort, neither blames the other', async () => {
    const h = toHex(randomBytes(32));
    const contribution = toHex(randomBytes(32));
    const { a, b } = await equivocate({ [A]: { msgs: [h], contribution }, [B]: { msgs: [h, toHex(randomBytes(32))], contribution } });
    await assertNobodyBlamedOrBanned(a, b);
  });

  test('different session contributions to two signers: no OT check runs under a mismatched session, so no honest party is banned', async () => {
    const msgs = [toHex(randomBytes(32))];
    const { a, b } = await equivocate({ [A]: { msgs, contribution: toHex(randomBytes(32)) }, [B]: { msgs, contribution: toHex(randomBytes(32)) } });
    await assertNobodyBlamedOrBanned(a, b);
  });

  test('one signed request is one ceremony per node: a second invitation carrying it is refused', async () => {
    const privateKey = ed25519.utils.randomSecretKey();
    const seat = await nodeSeat(root, A, keyId, shares[1]!, {
      context: (store) => {
        const keys = new RequestAuthStore(store.client);
        const verifier = new SignedRequestVerifier(store, keys);
        return {
          requestKeys: keys,
          callers: { invitedUser: async (evidence: string) => verifier.verify(evidence, envelopeOf(evidence)!, true) },
        };
      },
    });
    try {
      await seat.ctx.requestKeys.setKey(OWNER.userId, 'ed25519', ed25519.getPublicKey(privateKey));
      const hash = toHex(randomBytes(32));
      const body = JSON.stringify({ key_id: keyId, msg: hash });
      const request = { method: 'POST', path: '/ecdsa/sign', body };
      const credential = encodeEnvelope({ ...request, authorization: signRequest({ type: 'ed25519', privateKey }, OWNER.userId, request) });
      const link = new MemoryLink();
      const invitedWith = async (msgs: string[]) => {
        const sessions = sessionsOf(link, ids);
        const evil = sessions.get(EVIL)!;
        const run = participateDklsSign(seat.ctx, signInvite(evil.id, keyId, msgs, credential), EVIL, async () => sessions.get(A)!);
        const answer = await evil.expect(A, 'ready', 10_000).then(
          () => 'ready',
          (e: Error) => e.message,
        );
        evil.send(A, { kind: 'abort', code: 'ceremony_failed' });
        await run;
        return answer;
      };
      // Not what the user signed (two messages where it signed one): refused, nonce untouched.
      assert.match(await invitedWith([hash, hash]), /refused \(executor_result\)/);
      // More than this node's TANDEM_MAX_BATCH: refused before anything else.
      assert.match(await invitedWith(Array.from({ length: 65 }, () => hash)), /refused \(executor_result\)/);
      // The request as signed: accepted once on this node...
      assert.equal(await invitedWith([hash]), 'ready');
      // ...and never again, whatever ceremony a coordinator puts it in.
      assert.match(await invitedWith([hash]), /refused \(access_denied\)/);
      assert.match(await invitedWith([hash]), /refused \(access_denied\)/);
    } finally {
      await seat.close();
    }
  });

  test('a key bound to its owner passkey: a participant refuses a coordinator that brings no assertion of that passkey', async () => {
    const seat = await nodeSeat(root, A, keyId, shares[1]!);
    try {
      // What a passkey_per_request scope stores at keygen (src/node/passkey-owner.ts).
      await seat.ctx.keyPasskeys.bind(keyId, { rp_id: 'localhost', origins: ['http://localhost:*'], credential_id: 'Y3JlZA', public_key: 'pQECAyYgASFYIA' });
      const invite = signInvite(randomUUID() as CeremonyId, keyId, [toHex(randomBytes(32))]);
      const forged = { ...invite, op: { ...invite.op, passkey_evidence: { request_body: '{}', challenge: 'AAAA', assertion: { id: 'Y3JlZA', response: {} } } } };
      for (const inv of [invite, forged]) {
        const s = sessionsOf(new MemoryLink(), ids);
        const e = s.get(EVIL)!;
        const run = participateDklsSign(seat.ctx, { ...inv, ceremony: e.id }, EVIL, async () => s.get(A)!);
        const answer = await e.expect(A, 'ready', 10_000).then(() => 'ready', (err: Error) => err.message);
        await run;
        assert.match(answer, /refused \(access_denied\)/, `${inv === invite ? 'no' : 'a forged'} assertion`);
      }
    } finally {
      await seat.close();
    }
  });

  test('a refusal carries an error type and a rule id, never text the refusing peer chose', async () => {
    const seat = await nodeSeat(root, A, keyId, shares[1]!, {
      context: () => ({
        authorize: async () => {
          throw new TandemError('policy_validation_failed', 'click https://evil.example/ to unlock your wallet', '01234567-89ab-4def-8123-456789abcdef');
        },
      }),
    });
    try {
      const sessions = sessionsOf(new MemoryLink(), ids);
      const evil = sessions.get(EVIL)!;
      const run = participateDklsSign(seat.ctx, signInvite(evil.id, keyId, [toHex(randomBytes(32))]), EVIL, async () => sessions.get(A)!);
      const err = await evil.expect(A, 'ready', 10_000).then(
        () => assert.fail('refused'),
        (e: Error) => e,
      );
      await run;
      assert.equal(err.message, `${A}: refused (policy_validation_failed, rule 01234567-89ab-4def-8123-456789abcdef)`);
    } finally {
      await seat.close();
    }
  });

  test('text a peer puts in a refusal or an abort never comes out of the session', async () => {
    const sessions = sessionsOf(new MemoryLink(), ids);
    const evil = sessions.get(EVIL)!;
    const honest = sessions.get(A)!;
    const said = (m: object) => {
      evil.send(A, m as never);
      return honest.expect(EVIL, 'start', 5000).then(
        () => assert.fail('a failure'),
        (e: Error) => e.message,
      );
    };
    const phishing = 'visit https://evil.example/ now';
    assert.equal(await said({ kind: 'refuse', errType: 'policy_validation_failed', reason: phishing, ruleId: phishing }), `${EVIL}: refused (policy_validation_failed)`);
    assert.equal(await said({ kind: 'abort', reason: phishing, code: phishing }), `${EVIL}: aborted (unspecified)`);
    assert.equal(await said({ kind: 'abort', code: 'banned' }), `${EVIL}: aborted (banned)`);
    assert.equal(await said({ kind: 'step', step: phishing, body: {} }), `${EVIL}: sent another step where start was due`);
    honest.close();
    evil.close();
  });
});
