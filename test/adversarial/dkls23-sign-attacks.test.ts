import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { commit } from '../../src/protocols/dkls23/commit.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { decodePoint, encodePoint, Fn, G } from '../../src/protocols/dkls23/math/group.js';
import { encodeRound3 } from '../../src/protocols/dkls23/sign/sign.js';
import { GF128_BYTES } from '../../src/protocols/dkls23/math/gf128.js';
import { OTE_ROW_BYTES, OTE_U_BYTES } from '../../src/protocols/dkls23/ot/softspoken.js';
import { SID_BYTES } from '../../src/protocols/dkls23/session/ids.js';
import { RVOLE_RHO, RVOLE_WIDTH, RVOLE_XI } from '../../src/protocols/dkls23/vole/rvole.js';
import type { PartyId } from '../../src/core/ids.js';
import { parties } from '../helpers/frost.js';
import { runDkls23Dkg } from '../helpers/dkls23.js';
import {
  dkls23SignProtocol,
  drop,
  duplicate,
  expectOutcome,
  expectSuccess,
  fieldOf,
  flipBit,
  mapField,
  notAPoint,
  pointPlusG,
  Recorder,
  replay,
  runAdversarial,
  scalarOutOfRange,
  scalarPlusOne,
  staleRound,
  swapRecipients,
  tamper,
  type Attack,
  type Expected,
} from './harness.js';

/**
 * DKLs23 signing (src/protocols/dkls23/sign/sign.ts) against one malicious signer. Two
 * DKGs serve every case: a 2-of-2 key for the per-field sweep (a signature is ~60 ms) and a
 * 3-of-3 key for what needs two honest recipients (equivocation, swapped recipients).
 * Design note §6 "Errors": a failed OT-extension check (as Alice), μ, Γu or Γv is a ban of
 * the peer; everything else aborts, naming the sender or, where the evidence can't name
 * anyone (Σpk ≠ PK', a signature that does not verify), nobody.
 */

type Bytes = Uint8Array;

/** Field positions of each round's message and byte ranges inside the OT-extension and RVOLE fields. */
const F = {
  1: { commitment: 0, ote: 1 },
  2: { rvole: 0, gammaU: 1, gammaV: 2, psi: 3, R: 4, salt: 5, pk: 6 },
  3: { R: 0, u: 1, w: 2 },
} as const;
const OTE = {
  mulSid: { offset: 0, length: SID_BYTES },
  uBlock: (b: number) => ({ offset: SID_BYTES + b * OTE_ROW_BYTES, length: OTE_ROW_BYTES }),
  xHat: { offset: SID_BYTES + OTE_U_BYTES, length: GF128_BYTES },
  tHatRow: (i: number) => ({ offset: SID_BYTES + OTE_U_BYTES + GF128_BYTES + i * GF128_BYTES, length: GF128_BYTES }),
};
const A_TILDE = RVOLE_XI * RVOLE_WIDTH * 32;
const RVOLE = {
  aTilde: (j: number, i: number) => ({ offset: (j * RVOLE_WIDTH + i) * 32, length: 32 }),
  etaPrime: { offset: A_TILDE, length: 32 },
  mu: { offset: A_TILDE + RVOLE_RHO * 32, length: 64 },
};

const field = (round: number, k: number, fn: (f: Bytes) => Bytes, sub?: { offset: number; length: number }, to?: PartyId): Attack<Bytes> =>
  tamper(round, (m) => mapField(m, k, fn, sub), to);

interface Case {
  name: string;
  attack: Attack<Bytes>;
  want: (cheater: PartyId) => Expected;
}

const abortNaming = (c: PartyId): Expected => ({ culprit: c, kind: 'abort' });
const banOf = (c: PartyId): Expected => ({ culprit: c, kind: 'ban' });
const nobody = (): Expected => ({ culprit: undefined, kind: 'abort' });

describe('DKLs23 signing under attack', { timeout: 600_000 }, () => {
  const [n1, n2, n3] = parties(3) as [PartyId, PartyId, PartyId];
  let key2: Dkls23KeyShare[];
  let key3: Dkls23KeyShare[];
  const recorder = new Recorder<Bytes>();

  before(() => {
    key2 = runDkls23Dkg([n1, n2], 2);
    key3 = runDkls23Dkg([n1, n2, n3], 3);
    // What the replay attacks resend (a round-3 partial from either seat).
    for (const combiner of [n1, n2]) expectSuccess(runAdversarial(dkls23SignProtocol(key2, randomBytes(32), { combiner }), { recorder }), 'recorded honest session');
  });

  test('honest signing, messages delivered in another order, either combiner: the signature verifies (libsecp256k1)', () => {
    for (const combiner of [n1, n2]) {
      const hash = randomBytes(32);
      const [sig] = expectSuccess(runAdversarial(dkls23SignProtocol(key2, hash, { combiner }), { order: (ps) => [...ps].reverse() }), 'honest').filter(Boolean);
      const compact = Buffer.concat([Buffer.from(sig!.r.toString(16).padStart(64, '0'), 'hex'), Buffer.from(sig!.s.toString(16).padStart(64, '0'), 'hex')]);
      assert.ok(ecc.verify(hash, encodePoint(key2[0]!.pub.publicKey), compact, true));
    }
  });

  const cases: Case[] = [
    // Round 1 (per peer): commitment to R_j; OT-extension message (we are Bob in j→i).
    { name: 'r1 R commitment flipped', attack: field(1, F[1].commitment, (f) => flipBit(f, 3)), want: abortNaming },
    { name: 'r1 OTE mulSid flipped (another session: checked before the OT check, so no ban)', attack: field(1, F[1].ote, (f) => flipBit(f, 0), OTE.mulSid), want: abortNaming },
    { name: 'r1 receiver corrupts one row of u (block 0)', attack: field(1, F[1].ote, (f) => flipBit(f, 17, 2), OTE.uBlock(0)), want: banOf },
    { name: 'r1 receiver corrupts one row of u (block 63)', attack: field(1, F[1].ote, (f) => flipBit(f, -1, 7), OTE.uBlock(63)), want: banOf },
    { name: 'r1 x̂ flipped', attack: field(1, F[1].ote, (f) => flipBit(f, 5), OTE.xHat), want: banOf },
    { name: 'r1 t̂ row 0 flipped', attack: field(1, F[1].ote, (f) => flipBit(f, 0, 1), OTE.tHatRow(0)), want: banOf },
    { name: 'r1 t̂ row 255 flipped', attack: field(1, F[1].ote, (f) => flipBit(f, 15), OTE.tHatRow(255)), want: banOf },
    { name: 'r1 OTE message one byte short', attack: field(1, F[1].ote, (f) => f.slice(1)), want: abortNaming },
    { name: 'r1 truncated', attack: tamper(1, (m) => m.slice(0, -1)), want: abortNaming },
    { name: 'r1 extended', attack: tamper(1, (m) => Uint8Array.of(...m, 1)), want: abortNaming },
    { name: 'r1 other round tag', attack: tamper(1, (m) => flipBit(m, 1, 2)), want: abortNaming },
    { name: 'r1 missing', attack: drop(1), want: abortNaming },
    { name: 'r1 sent twice', attack: duplicate(1), want: abortNaming },
    { name: 'r1 replayed from an earlier session (no ban: sid first)', attack: replay(1), want: abortNaming },
    // Round 2 (per peer): RVOLE message (we are Alice in i→j), Γu, Γv, ψ, opening of R, pk.
    { name: 'r2 sender corrupts ã[0][0] (r column)', attack: field(2, F[2].rvole, scalarPlusOne, RVOLE.aTilde(0, 0)), want: banOf },
    { name: 'r2 sender corrupts ã[511][1] (sk column)', attack: field(2, F[2].rvole, scalarPlusOne, RVOLE.aTilde(RVOLE_XI - 1, 1)), want: banOf },
    { name: 'r2 sender corrupts ã[200][2] (check column)', attack: field(2, F[2].rvole, scalarPlusOne, RVOLE.aTilde(200, 2)), want: banOf },
    { name: 'r2 ã entry ≥ q (encoding: abort)', attack: field(2, F[2].rvole, scalarOutOfRange, RVOLE.aTilde(7, 0)), want: abortNaming },
    { name: "r2 η' + 1", attack: field(2, F[2].rvole, scalarPlusOne, RVOLE.etaPrime), want: banOf },
    { name: 'r2 μ flipped', attack: field(2, F[2].rvole, (f) => flipBit(f, 33), RVOLE.mu), want: banOf },
    { name: 'r2 RVOLE message one byte short', attack: field(2, F[2].rvole, (f) => f.slice(0, -1)), want: abortNaming },
    { name: 'r2 Γu + G', attack: field(2, F[2].gammaU, pointPlusG), want: banOf },
    { name: 'r2 Γu not a point', attack: field(2, F[2].gammaU, notAPoint), want: abortNaming },
    { name: 'r2 Γv + G', attack: field(2, F[2].gammaV, pointPlusG), want: banOf },
    { name: 'r2 ψ + 1 (only the signature shows it)', attack: field(2, F[2].psi, scalarPlusOne), want: nobody },
    { name: 'r2 ψ ≥ q', attack: field(2, F[2].psi, scalarOutOfRange), want: abortNaming },
    { name: 'r2 R + G (opening fails)', attack: field(2, F[2].R, pointPlusG), want: abortNaming },
    { name: 'r2 opening salt flipped', attack: field(2, F[2].salt, (f) => flipBit(f, 31)), want: abortNaming },
    { name: 'r2 pk_j + G (Γv binds it)', attack: field(2, F[2].pk, pointPlusG), want: banOf },
    { name: 'r2 pk_j not a point', attack: field(2, F[2].pk, notAPoint), want: abortNaming },
    { name: 'r2 is the round-1 message again', attack: staleRound(2), want: abortNaming },
    { name: 'r2 missing', attack: drop(2), want: abortNaming },
    { name: 'r2 replayed from an earlier session', attack: replay(2), want: abortNaming },
    // Round 3 (to the combiner): (R, u, w) can't be checked one by one.
    { name: 'r3 R + G', attack: field(3, F[3].R, pointPlusG), want: nobody },
    { name: 'r3 u + 1', attack: field(3, F[3].u, scalarPlusOne), want: nobody },
    { name: 'r3 w + 1', attack: field(3, F[3].w, scalarPlusOne), want: nobody },
    { name: 'r3 w ≥ q', attack: field(3, F[3].w, scalarOutOfRange), want: abortNaming },
    { name: 'r3 missing', attack: drop(3), want: abortNaming },
    { name: 'r3 replayed from an earlier session', attack: replay(3), want: nobody },
  ];

  // Both seats cheat in turn; the combiner is the honest one.
  cases.forEach((c, k) => {
    const cheater = k % 2 === 0 ? n2 : n1;
    const honest = cheater === n1 ? n2 : n1;
    test(`2 signers: ${c.name}`, () => {
      const run = runAdversarial(dkls23SignProtocol(key2, randomBytes(32), { combiner: honest }), { malicious: [cheater], attack: c.attack, earlier: recorder });
      expectOutcome(run, { ...c.want(cheater), failing: [honest] }, c.name);
    });
  });

  test('2 signers: a signer with another session id is aborted on, never banned (sid before the OT check)', () => {
    const run = runAdversarial(dkls23SignProtocol(key2, randomBytes(32), { combiner: n1, sidOf: (p, sid) => (p === n2 ? flipBit(sid, 0) : sid) }), { malicious: [n2] });
    expectOutcome(run, { culprit: n2, kind: 'abort', failing: [n1] }, 'other sid');
  });

  test('2 signers: a signer using a wrong share consistently: Σpk ≠ PK, nobody named', () => {
    const bad = key2.map((s) => (s.self === n2 ? { ...s, secret: Fn.add(s.secret, 1n) } : s));
    const run = runAdversarial(dkls23SignProtocol(bad, randomBytes(32), { combiner: n1 }), { malicious: [n2] });
    expectOutcome(run, { culprit: undefined, failing: [n1] }, 'wrong share');
    assert.match((run.honest[0] as { error: Error }).error.message, /do not add up/);
  });

  test('3 signers: a cheater showing each honest signer another R (two engines): the combiner aborts, nobody named', () => {
    // Each engine fails in round 3 (it holds the other's RVOLE answers), so the cheater sends
    // the combiner a partial carrying the R the combiner computes: only honest n3's differs.
    const attack: Attack<Bytes> = (round, from, out, ctx) => {
      if (round !== 3 || ctx.twin !== 0) return [...out];
      const Rof = (p: PartyId, to: PartyId) => decodePoint(fieldOf(ctx.delivered.find((e) => e.round === 2 && e.from === p && e.to === to)!.msg, F[2].R));
      const R = Rof(n1, from).add(Rof(n3, from)).add(Rof(from, n1));
      return [[n1, encodeRound3({ R, u: 1n, w: 1n })]];
    };
    const run = runAdversarial(dkls23SignProtocol(key3, randomBytes(32), { combiner: n1 }), { twins: { seat: n2, groups: [[n1], [n3]] }, attack });
    expectOutcome(run, { culprit: undefined, failing: [n1] }, 'twin cheater');
    assert.equal(run.outcomes.get(n3)!.status, 'done', 'n3 saw a consistent session and sent its partial');
    assert.match((run.honest[0] as { error: Error }).error.message, /different R/);
  });

  test('3 signers: an equivocated R (fresh commitment, same RVOLE inputs) is a ban by the signer it was shown to (Γu)', () => {
    const sid = new Uint8Array(randomBytes(32));
    const other = G.multiply(Fn.create(BigInt('0x' + randomBytes(32).toString('hex'))) || 1n);
    const alt = commit({ sid, sender: 2, label: 'sign/R' }, [encodePoint(other)]);
    const attack: Attack<Bytes> = (round, _from, out) =>
      [...out].map(([to, m]) => {
        if (to !== n3) return [to, m];
        if (round === 1) return [to, mapField(m, F[1].commitment, () => alt.commitment)];
        if (round === 2) return [to, mapField(mapField(m, F[2].R, () => encodePoint(other)), F[2].salt, () => alt.salt)];
        return [to, m];
      });
    const run = runAdversarial(dkls23SignProtocol(key3, randomBytes(32), { combiner: n1, sid }), { malicious: [n2], attack });
    expectOutcome(run, { culprit: n2, kind: 'ban', failing: [n3] }, 'equivocated R');
    assert.match((run.outcomes.get(n3) as { error: Error }).error.message, /Γu/);
  });

  test('3 signers: round-1 messages swapped between recipients: both abort naming the cheater (mulSid), no ban', () => {
    const run = runAdversarial(dkls23SignProtocol(key3, randomBytes(32), { combiner: n1 }), { malicious: [n2], attack: swapRecipients(1) });
    expectOutcome(run, { culprit: n2, kind: 'abort', failing: [n1, n3] }, 'swapped round 1');
  });

  test('3 signers: round-2 messages swapped between recipients: both ban the cheater (μ binds the multiplication)', () => {
    const run = runAdversarial(dkls23SignProtocol(key3, randomBytes(32), { combiner: n1 }), { malicious: [n2], attack: swapRecipients(2) });
    expectOutcome(run, { culprit: n2, kind: 'ban', failing: [n1, n3] }, 'swapped round 2');
  });

  test('3 signers: a corrupted u row sent to one honest signer: it bans the cheater, the other never bans anyone', () => {
    const run = runAdversarial(dkls23SignProtocol(key3, randomBytes(32), { combiner: n1 }), {
      malicious: [n2],
      attack: field(1, F[1].ote, (f) => flipBit(f, 40), OTE.uBlock(31), n3),
    });
    expectOutcome(run, { culprit: n2, kind: 'ban', failing: [n3] }, 'one victim');
    assert.notEqual(run.outcomes.get(n1)!.status, 'done', 'the ceremony stops for the other signer too');
  });
});
