import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Dkls23Error } from '../../src/protocols/dkls23/errors.js';
import { Dkls23Dkg } from '../../src/protocols/dkls23/dkg/dkg.js';
import { combine, decodeRound3, Dkls23Signer, encodeRound3 } from '../../src/protocols/dkls23/sign/sign.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import type { PartyId } from '../../src/core/ids.js';

/** Runs one party's step; an error remembers which party raised it (`at`). */
export function at<T>(party: PartyId, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw Object.assign(e as Error, { at: party });
  }
}

type Outbox = Map<PartyId, Map<PartyId, Uint8Array>>;

/** Delivers per-recipient messages: inbox[to] = { from → message }. */
export function route(out: Outbox): Map<PartyId, Map<PartyId, Uint8Array>> {
  const inbox = new Map<PartyId, Map<PartyId, Uint8Array>>();
  for (const [from, msgs] of out) {
    for (const [to, m] of msgs) {
      if (!inbox.has(to)) inbox.set(to, new Map());
      inbox.get(to)!.set(from, m);
    }
  }
  return inbox;
}

/** A broadcast is the same bytes to every other party. */
export function broadcast(ids: PartyId[], from: PartyId, m: Uint8Array): Map<PartyId, Uint8Array> {
  return new Map(ids.filter((p) => p !== from).map((p) => [p, m]));
}

/** Runs a whole DKLs23 DKG in memory; `tamper(round, from, to, msg)` may alter any message. */
export function runDkls23Dkg(
  ids: PartyId[],
  t: number,
  tamper: (round: number, from: PartyId, to: PartyId, m: Uint8Array) => Uint8Array = (_r, _f, _t, m) => m,
): Dkls23KeyShare[] {
  const dkgs = new Map(ids.map((p) => [p, new Dkls23Dkg(p, ids, t)]));
  const send = (round: number, out: Outbox) => {
    for (const [from, msgs] of out) for (const [to, m] of msgs) msgs.set(to, tamper(round, from, to, m));
    return route(out);
  };
  let inbox = send(1, new Map(ids.map((p) => [p, broadcast(ids, p, at(p, () => dkgs.get(p)!.round1()))])));
  inbox = send(2, new Map(ids.map((p) => [p, at(p, () => dkgs.get(p)!.round2(inbox.get(p)!))])));
  inbox = send(3, new Map(ids.map((p) => [p, at(p, () => dkgs.get(p)!.round3(inbox.get(p)!))])));
  inbox = send(4, new Map(ids.map((p) => [p, broadcast(ids, p, at(p, () => dkgs.get(p)!.round4(inbox.get(p)!)))])));
  return ids.map((p) => at(p, () => dkgs.get(p)!.finish(inbox.get(p)!)));
}

/** Runs DKLs23 signing among `signers` in memory; returns the combined signature. */
export function runDkls23Sign(
  shares: Dkls23KeyShare[],
  msgHash: Uint8Array,
  tweak = 0n,
  tamper: (round: number, from: PartyId, to: PartyId, m: Uint8Array) => Uint8Array = (_r, _f, _t, m) => m,
) {
  const ids = shares.map((s) => s.self);
  const sid = new Uint8Array(randomBytes(32));
  const signers = new Map(shares.map((s) => [s.self, new Dkls23Signer(s, ids, sid, msgHash, tweak)]));
  const send = (round: number, out: Outbox) => {
    for (const [from, msgs] of out) for (const [to, m] of msgs) msgs.set(to, tamper(round, from, to, m));
    return route(out);
  };
  let inbox = send(1, new Map(ids.map((p) => [p, at(p, () => signers.get(p)!.round1())])));
  inbox = send(2, new Map(ids.map((p) => [p, at(p, () => signers.get(p)!.round2(inbox.get(p)!))])));
  const partials = ids.map((p) => at(p, () => signers.get(p)!.round3(inbox.get(p)!)));
  const encoded = ids.map((p, k) => tamper(3, p, ids[0]!, encodeRound3(partials[k]!)));
  return combine(signers.get(ids[0]!)!.publicKey, msgHash, encoded.map((b, k) => decodeRound3(b, ids[k]!)));
}

/** Asserts that `fn` throws a Dkls23Error of this kind, naming this culprit (and matching `pattern`). */
export function assertDkls23Error(fn: () => unknown, kind: 'abort' | 'ban', culprit?: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Dkls23Error, `expected Dkls23Error, got ${String(e)}`);
    assert.equal(e.kind, kind);
    assert.equal(e.culprit, culprit);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}
