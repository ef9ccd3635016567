import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { commit, type Commitment } from '../../src/protocols/dkls23/commit.js';
import { evaluatePolynomial, feldmanCommit, randomPolynomial } from '../../src/protocols/dkls23/math/feldman.js';
import { encodePoint, encodeScalar } from '../../src/protocols/dkls23/math/group.js';
import { encodeSchnorrProof, proveDlog } from '../../src/protocols/dkls23/proofs/schnorr.js';
import { dkgSid } from '../../src/protocols/dkls23/session/ids.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import type { PartyId } from '../../src/core/ids.js';
import { parties } from '../helpers/frost.js';
import {
  dkls23DkgProtocol,
  dkls23SignProtocol,
  drop,
  duplicate,
  expectOutcome,
  expectSuccess,
  fieldOf,
  flipBit,
  joinFields,
  mapField,
  pointPlusG,
  Recorder,
  replay,
  runAdversarial,
  scalarOutOfRange,
  scalarPlusOne,
  splitFields,
  staleRound,
  swapRecipients,
  tamper,
  type Attack,
  type AttackContext,
  type Expected,
} from './harness.js';

/**
 * The DKLs23 DKG (src/protocols/dkls23/dkg/dkg.ts) against one malicious party. Each DKG
 * costs seconds in pure JS, so the field sweep runs with two parties (one victim) and only
 * the attacks that need two honest recipients (equivocation, swapped recipients) use three.
 */

type Bytes = Uint8Array;

/** Field positions of each round's message (the engine's wire layout). */
const F = {
  1: { sidContrib: 0, feldman: 1 },
  2: { echo: 0, vector: 1, salt: 2, proofs: 3, ccCommit: 4, otMsg1: 5 },
  3: { share: 0, echo: 1, cc: 2, ccSalt: 3, zeroSeed: 4, otMsg2: 5 },
  4: { pk: 0, X: 1, proof: 2 },
} as const;

const field = (round: number, k: number, fn: (f: Bytes) => Bytes, to?: PartyId): Attack<Bytes> => tamper(round, (m) => mapField(m, k, fn), to);
const bytes = (round: number, fn: (m: Bytes) => Bytes): Attack<Bytes> => tamper(round, fn);

interface Case {
  name: string;
  cheater: PartyId;
  attack: Attack<Bytes>;
  want: (cheater: PartyId) => Expected;
  /** Repeats a check another case already reaches: run only with TANDEM_ADVERSARIAL=full (each costs a DKG). */
  extra?: boolean;
}

const thorough = process.env.TANDEM_ADVERSARIAL === 'full';

const blames = (kind: 'abort' = 'abort') => (c: PartyId): Expected => ({ culprit: c, kind });
const nobody = (): Expected => ({ culprit: undefined });

describe('DKLs23 DKG under attack', { timeout: 600_000 }, () => {
  const two = parties(2);
  const three = parties(3);
  const [n1, n2, n3] = three as [PartyId, PartyId, PartyId];
  const recorder = new Recorder<Bytes>();
  let baseline: Dkls23KeyShare[];

  before(() => {
    // Also the "earlier session" the replay attacks draw from; delivered in reverse order.
    baseline = expectSuccess(runAdversarial(dkls23DkgProtocol(two, 2), { recorder, order: (ps) => [...ps].reverse() }), 'honest run');
  });

  test('honest run, messages delivered in another order: both parties get the same key', () => {
    assert.equal(baseline.length, 2);
    assert.ok(baseline[0]!.pub.publicKey.equals(baseline[1]!.pub.publicKey));
    assert.deepEqual(baseline[0]!.pub.chainCode, baseline[1]!.pub.chainCode);
  });

  // Rounds 1-2 fail early (cheap), so the generic malformations run there; rounds 3-4 get
  // one case per field plus drop and replay.
  const cases: Case[] = [
    // Round 1 (broadcast): an inconsistent sid contribution or Feldman commitment shows up
    // as an echo mismatch, which can't tell who lied.
    { name: 'r1 sid contribution flipped', cheater: n1, attack: field(1, F[1].sidContrib, (f) => flipBit(f, 0)), want: nobody },
    { name: 'r1 Feldman commitment flipped', cheater: n2, attack: field(1, F[1].feldman, (f) => flipBit(f, 7)), want: nobody },
    { name: 'r1 truncated', cheater: n1, attack: bytes(1, (m) => m.slice(0, -1)), want: blames() },
    { name: 'r1 extended', cheater: n2, attack: bytes(1, (m) => Uint8Array.of(...m, 0)), want: blames() },
    { name: 'r1 empty', cheater: n1, attack: bytes(1, () => new Uint8Array(0)), want: blames() },
    { name: 'r1 other wire version', cheater: n2, attack: bytes(1, (m) => flipBit(m, 0, 1)), want: blames() },
    { name: 'r1 other round tag', cheater: n1, attack: bytes(1, (m) => flipBit(m, 1, 4)), want: blames() },
    { name: 'r1 extra field', cheater: n2, attack: bytes(1, (m) => { const s = splitFields(m); s.fields.push(new Uint8Array(1)); return joinFields(s); }), want: blames() },
    { name: 'r1 field lengths shifted', cheater: n1, attack: bytes(1, (m) => { const s = splitFields(m); s.fields[0] = Uint8Array.of(...s.fields[0]!, 0); s.fields[1] = s.fields[1]!.slice(1); return joinFields(s); }), want: blames() },
    { name: 'r1 missing', cheater: n2, attack: drop(1), want: blames() },
    { name: 'r1 sent twice', cheater: n1, attack: duplicate(1), want: blames() },
    { name: 'r1 replayed from an earlier DKG', cheater: n2, attack: replay(1), want: nobody },
    // Round 2 (the opened vector, proofs, chain-code commitment; OT message 1 per peer).
    { name: 'r2 echo flipped', cheater: n1, attack: field(2, F[2].echo, (f) => flipBit(f, 3)), want: nobody },
    { name: 'r2 Feldman vector flipped', cheater: n2, attack: field(2, F[2].vector, (f) => flipBit(f, 40)), want: blames() },
    { name: 'r2 opening salt flipped', cheater: n1, attack: field(2, F[2].salt, (f) => flipBit(f)), want: blames() },
    { name: 'r2 coefficient proof flipped', cheater: n2, attack: field(2, F[2].proofs, (f) => flipBit(f, -2)), want: blames() },
    { name: 'r2 chain-code commitment flipped', cheater: n1, attack: field(2, F[2].ccCommit, (f) => flipBit(f, 9)), want: nobody },
    // The receiver can't check base-OT message 1; the cheater's own OT setup then fails and it goes silent.
    { name: 'r2 OT setup message flipped', cheater: n2, attack: field(2, F[2].otMsg1, (f) => flipBit(f, -1)), want: blames() },
    { name: 'r2 truncated', cheater: n1, attack: bytes(2, (m) => m.slice(0, -5)), want: blames(), extra: true },
    { name: 'r2 is the round-1 message again', cheater: n2, attack: staleRound(2), want: blames() },
    { name: 'r2 missing', cheater: n1, attack: drop(2), want: blames(), extra: true },
    { name: 'r2 replayed from an earlier DKG', cheater: n2, attack: replay(2), want: nobody },
    // Round 3 (per peer). The lower index picks the zero seed, so node-1 cheats here.
    { name: 'r3 share f(j) + 1', cheater: n1, attack: field(3, F[3].share, scalarPlusOne), want: blames() },
    { name: 'r3 share ≥ q', cheater: n1, attack: field(3, F[3].share, scalarOutOfRange), want: blames(), extra: true },
    { name: 'r3 echo flipped', cheater: n1, attack: field(3, F[3].echo, (f) => flipBit(f, 30)), want: nobody },
    { name: 'r3 chain-code contribution flipped', cheater: n1, attack: field(3, F[3].cc, (f) => flipBit(f)), want: blames() },
    { name: 'r3 chain-code salt flipped', cheater: n1, attack: field(3, F[3].ccSalt, (f) => flipBit(f, 4)), want: blames(), extra: true },
    { name: 'r3 OT setup message 2 (PPRF proof) flipped', cheater: n1, attack: field(3, F[3].otMsg2, (f) => flipBit(f, -1)), want: blames() },
    { name: 'r3 missing', cheater: n1, attack: drop(3), want: blames(), extra: true },
    { name: 'r3 replayed from an earlier DKG', cheater: n1, attack: replay(3), want: nobody },
    // Round 4 (broadcast): everything it claims is checkable against agreed data.
    { name: 'r4 public key + G', cheater: n2, attack: field(4, F[4].pk, pointPlusG), want: blames() },
    { name: 'r4 public share + G', cheater: n1, attack: field(4, F[4].X, pointPlusG), want: blames() },
    { name: 'r4 share proof flipped', cheater: n2, attack: field(4, F[4].proof, (f) => flipBit(f, -3)), want: blames() },
    { name: 'r4 replayed from an earlier DKG', cheater: n1, attack: replay(4), want: blames(), extra: true },
  ];

  // The victim aborts naming the cheater, or nobody where only an echo disagrees.
  for (const c of cases) {
    test(`2 parties: ${c.name}`, { skip: c.extra && !thorough && 'TANDEM_ADVERSARIAL=full runs it' }, () => {
      const run = runAdversarial(dkls23DkgProtocol(two, 2), { malicious: [c.cheater], attack: c.attack, earlier: recorder });
      expectOutcome(run, c.want(c.cheater), c.name);
    });
  }

  test('2 parties: a flipped zero seed is not visible in the DKG; the first signature aborts blaming nobody (Σpk ≠ PK)', () => {
    const run = runAdversarial(dkls23DkgProtocol(two, 2), { malicious: [n1], attack: field(3, F[3].zeroSeed, (f) => flipBit(f, 2)) });
    const shares = [...run.outcomes.values()].map((o) => (o.status === 'done' ? o.result : undefined));
    assert.ok(shares.every(Boolean), 'the DKG itself completes');
    const sign = runAdversarial(dkls23SignProtocol(shares as Dkls23KeyShare[], randomBytes(32), { combiner: n2 }), { malicious: [n1] });
    expectOutcome(sign, { culprit: undefined, failing: [n2] }, 'signing with the mismatched zero seed');
    assert.match((sign.honest[0] as { error: Error }).error.message, /do not add up/);
  });

  /** The dkgSid every honest party computes, from the round-1 messages delivered so far. */
  function sidFrom(ctx: AttackContext<Bytes>, ids: PartyId[], t: number, self: PartyId): Bytes {
    const contribution = (p: PartyId) => {
      const e = ctx.delivered.find((x) => x.session === ctx.session && x.round === 1 && x.from === p && x.to !== p && (p !== self || x.to === ctx.honest[0]));
      return fieldOf(e!.msg, F[1].sidContrib);
    };
    return dkgSid({ t, n: ids.length, indices: ids.map((_, k) => k + 1), contributions: ids.map(contribution) });
  }

  test('3 parties, equivocated chain-code commitment: the honest parties blame nobody (never each other)', () => {
    // node-2 commits node-3 to another chain-code contribution and opens it consistently.
    const cheater = n2;
    const idx = 2;
    const cc = new Uint8Array(randomBytes(32));
    let alt: Commitment | undefined;
    const attack: Attack<Bytes> = (round, _from, out, ctx) =>
      [...out].map(([to, m]) => {
        if (to !== n3) return [to, m];
        if (round === 2) {
          alt = commit({ sid: sidFrom(ctx, three, 2, cheater), sender: idx, label: 'dkg/chain-code' }, [cc]);
          return [to, mapField(m, F[2].ccCommit, () => alt!.commitment)];
        }
        if (round === 3) return [to, mapField(mapField(m, F[3].cc, () => cc), F[3].ccSalt, () => alt!.salt)];
        return [to, m];
      });
    const run = runAdversarial(dkls23DkgProtocol(three, 2), { malicious: [cheater], attack });
    expectOutcome(run, { culprit: undefined, failing: [n1, n3] }, 'equivocated chain-code commitment');
  });

  test('3 parties, equivocated sid contribution: the honest parties blame nobody', () => {
    const run = runAdversarial(dkls23DkgProtocol(three, 2), { malicious: [n2], attack: field(1, F[1].sidContrib, (f) => flipBit(f, 5), n3) });
    expectOutcome(run, { culprit: undefined, failing: [n1, n3] }, 'equivocated sid contribution');
  });

  test('3 parties, equivocated Feldman vector (same sid, each view consistent, proofs valid): the honest parties blame nobody', () => {
    // node-3 commits node-1 to a second polynomial: a valid commitment, opening, proofs and share.
    const cheater = n3;
    const idx = 3;
    const poly = randomPolynomial(2);
    const vector = feldmanCommit(poly).map(encodePoint);
    let alt: Commitment | undefined;
    const attack: Attack<Bytes> = (round, _from, out, ctx) =>
      [...out].map(([to, m]) => {
        if (to !== n1) return [to, m];
        if (round === 1) {
          alt = commit({ sid: fieldOf(m, F[1].sidContrib), sender: idx, label: 'dkg/feldman' }, vector);
          return [to, mapField(m, F[1].feldman, () => alt!.commitment)];
        }
        if (round === 2) {
          const sid = sidFrom(ctx, three, 2, cheater);
          const proofs = poly.map((a, k) => encodeSchnorrProof(proveDlog({ sid, prover: idx, purpose: `dkg/coeff/${k}` }, a).proof));
          let out2 = mapField(m, F[2].vector, () => Uint8Array.from(Buffer.concat(vector)));
          out2 = mapField(out2, F[2].salt, () => alt!.salt);
          return [to, mapField(out2, F[2].proofs, () => Uint8Array.from(Buffer.concat(proofs)))];
        }
        if (round === 3) return [to, mapField(m, F[3].share, () => encodeScalar(evaluatePolynomial(poly, 1)))];
        return [to, m];
      });
    const run = runAdversarial(dkls23DkgProtocol(three, 2), { malicious: [cheater], attack });
    expectOutcome(run, { culprit: undefined, failing: [n1, n2] }, 'equivocated Feldman vector');
  });

  test('3 parties, a cheater running two engines (each honest party sees a different, consistent DKG): blame nobody', () => {
    const run = runAdversarial(dkls23DkgProtocol(three, 2), { twins: { seat: n2, groups: [[n1], [n3]] } });
    expectOutcome(run, { culprit: undefined, failing: [n1, n3] }, 'twin cheater');
  });

  test('3 parties, round-3 messages swapped between recipients: both name the cheater', { skip: !thorough && 'TANDEM_ADVERSARIAL=full runs it' }, () => {
    // node-1 is the lowest index, so both its round-3 messages carry a zero seed and parse.
    const run = runAdversarial(dkls23DkgProtocol(three, 2), { malicious: [n1], attack: swapRecipients(3) });
    expectOutcome(run, { culprit: n1, failing: [n2, n3] }, 'swapped round 3');
  });
});
