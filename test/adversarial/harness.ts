import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ProtocolError } from '../../src/protocols/errors.js';
import { Dkls23Error, abort } from '../../src/protocols/dkls23/errors.js';
import { Dkls23Dkg } from '../../src/protocols/dkls23/dkg/dkg.js';
import { combine, decodeRound3, Dkls23Signer, encodeRound3, type EcdsaSignature } from '../../src/protocols/dkls23/sign/sign.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { decodePoint, encodePoint, encodeScalar, Fn, G } from '../../src/protocols/dkls23/math/group.js';
import { FrostDkg } from '../../src/protocols/frost/dkg.js';
import type { FrostKeyShare } from '../../src/protocols/frost/key-share.js';
import {
  parseDkgRound1,
  parseDkgRound1Set,
  parseDkgRound2,
  parseSignatureShare,
  parseSignCommitment,
  parseSigningPackage,
  type DkgRound1,
  type DkgRound1Set,
  type DkgRound2,
  type SignatureShare,
  type SignCommitment,
  type SigningPackage,
} from '../../src/protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../src/protocols/frost/sign.js';
import type { FrostSuite } from '../../src/protocols/frost/suite.js';
import type { PartyId } from '../../src/core/ids.js';
import { broadcast } from '../helpers/dkls23.js';

/**
 * A malicious-party harness for the protocol engines, in memory. Every protocol is driven
 * as synchronous message rounds between parties over authenticated point-to-point
 * channels: a malicious seat can do anything with what it sends (tamper, drop, duplicate,
 * redirect to another recipient, resend a message of another round or of an earlier
 * session, send different content to different recipients, or run two engines and show
 * each recipient a different one), but it cannot forge another party's message, which
 * is what the ceremony channel guarantees. Honest parties run the real engines; the
 * harness records, per party, whether it finished, failed (with what error) or was
 * stopped because another honest party failed first (a real ceremony is torn down then).
 *
 * No top-level side effects: `node --test dist/test/` loads this module too.
 */

/** Messages of one round as one party received them: sender → messages (normally one). */
export type Inbox<M> = Map<PartyId, M[]>;

export interface PartyEngine<M, R> {
  /** What this party sends in message round `round` (1-based), given what it got in round − 1. */
  send(round: number, inbox: Inbox<M>): Map<PartyId, M>;
  /** After the last round. */
  finish(inbox: Inbox<M>): R;
}

export interface Protocol<M, R> {
  name: string;
  parties: PartyId[];
  rounds: number;
  create(party: PartyId): PartyEngine<M, R>;
}

export interface Envelope<M> {
  session: number;
  round: number;
  from: PartyId;
  to: PartyId;
  msg: M;
}

/** Every message every run delivered, so an attack can replay one from an earlier session. */
export class Recorder<M> {
  readonly sessions: Envelope<M>[][] = [];

  /** The message `from` sent `to` in `round` of the most recent recorded session that has one. */
  previous(round: number, from: PartyId, to: PartyId): M {
    for (let s = this.sessions.length - 1; s >= 0; s--) {
      const e = this.sessions[s]!.find((x) => x.round === round && x.from === from && x.to === to);
      if (e) return e.msg;
    }
    throw new Error(`no recorded session has a round-${round} message ${from}→${to}`);
  }
}

export interface AttackContext<M> {
  session: number;
  parties: PartyId[];
  honest: PartyId[];
  /** Earlier sessions, for replays. */
  earlier: Recorder<M>;
  /** What was delivered in this session so far, including the honest messages of this round (a rushing adversary). */
  delivered: Envelope<M>[];
  /** Which of the seat's engines produced `out` (0 unless the seat runs twins). */
  twin: number;
}

/**
 * What a malicious seat does with its outbox of one round: returns the (recipient, message)
 * pairs actually sent. Leaving a recipient out drops its message; listing one twice
 * duplicates it.
 */
export type Attack<M> = (round: number, from: PartyId, out: Map<PartyId, M>, ctx: AttackContext<M>) => Array<[PartyId, M]>;

export type Outcome<R> =
  | { party: PartyId; honest: boolean; status: 'done'; result: R }
  | { party: PartyId; honest: boolean; status: 'failed'; round: number; error: unknown }
  | { party: PartyId; honest: boolean; status: 'stopped'; round: number };

export interface RunResult<R> {
  outcomes: Map<PartyId, Outcome<R>>;
  honest: Outcome<R>[];
  malicious: PartyId[];
}

export interface RunOptions<M> {
  malicious?: PartyId[];
  attack?: Attack<M>;
  /**
   * The seat runs one engine per group and each group of recipients only sees its engine's
   * messages: equivocation with internally consistent content.
   */
  twins?: { seat: PartyId; groups: PartyId[][] };
  /** Records this session. */
  recorder?: Recorder<M>;
  /** Sessions a replay attack may draw from (keep it to honest ones). */
  earlier?: Recorder<M>;
  /** Honest-delivery order within a round (default: party order). */
  order?: (parties: PartyId[]) => PartyId[];
}

/** Runs one session of `proto` with the given adversary; never throws for a protocol failure. */
export function runAdversarial<M, R>(proto: Protocol<M, R>, opts: RunOptions<M> = {}): RunResult<R> {
  const malicious = [...new Set([...(opts.malicious ?? []), ...(opts.twins ? [opts.twins.seat] : [])])];
  for (const m of malicious) assert.ok(proto.parties.includes(m), `malicious seat ${m} is not a party`);
  const honest = proto.parties.filter((p) => !malicious.includes(p));
  const recorder = opts.recorder ?? new Recorder<M>();
  const session = recorder.sessions.length;
  const delivered: Envelope<M>[] = [];
  recorder.sessions.push(delivered);

  interface Instance {
    party: PartyId;
    twin: number;
    engine: PartyEngine<M, R> | undefined;
    recipients?: PartyId[];
  }
  const instances: Instance[] = [];
  const outcomes = new Map<PartyId, Outcome<R>>();
  const fail = (party: PartyId, round: number, error: unknown) => {
    if (!outcomes.has(party)) outcomes.set(party, { party, honest: !malicious.includes(party), status: 'failed', round, error });
  };
  for (const p of proto.parties) {
    const groups = opts.twins?.seat === p ? opts.twins.groups : [undefined];
    groups.forEach((recipients, twin) => {
      let engine: PartyEngine<M, R> | undefined;
      try {
        engine = proto.create(p);
      } catch (e) {
        fail(p, 0, e);
      }
      instances.push({ party: p, twin, engine, ...(recipients ? { recipients } : {}) });
    });
  }

  if (honest.some((p) => outcomes.has(p))) {
    for (const p of proto.parties) if (!outcomes.has(p)) outcomes.set(p, { party: p, honest: !malicious.includes(p), status: 'stopped', round: 0 });
    return { outcomes, honest: honest.map((p) => outcomes.get(p)!), malicious };
  }

  // inboxes[instance index] for the round being computed
  let inboxes = instances.map(() => new Map() as Inbox<M>);
  const inboxOf = (to: PartyId) => instances.map((inst, k) => (inst.party === to ? k : -1)).filter((k) => k >= 0);
  const order = opts.order ?? ((ps) => ps);

  for (let round = 1; round <= proto.rounds + 1; round++) {
    const last = round === proto.rounds + 1;
    const outs = new Map<Instance, Map<PartyId, M>>();
    let honestFailed = false;
    // Honest parties first, so a malicious seat may rush (see this round's messages to it).
    const sequence = [...instances].sort((a, b) => Number(malicious.includes(a.party)) - Number(malicious.includes(b.party)));
    const pending: Array<[Instance, Map<PartyId, M>]> = [];
    for (const inst of sequence) {
      if (!inst.engine) {
        // A malicious seat whose engine gave up may still send what it likes.
        if (!last && malicious.includes(inst.party)) pending.push([inst, new Map()]);
        continue;
      }
      const inbox = inboxes[instances.indexOf(inst)]!;
      try {
        if (last) {
          const result = inst.engine.finish(inbox);
          if (inst.twin === 0) outcomes.set(inst.party, { party: inst.party, honest: !malicious.includes(inst.party), status: 'done', result });
        } else {
          let out = inst.engine.send(round, inbox);
          if (inst.recipients) out = new Map([...out].filter(([to]) => inst.recipients!.includes(to)));
          if (malicious.includes(inst.party)) pending.push([inst, out]);
          else outs.set(inst, out);
        }
      } catch (e) {
        inst.engine = undefined;
        if (malicious.includes(inst.party)) {
          if (inst.twin === 0) fail(inst.party, round, e);
          if (!last) pending.push([inst, new Map()]);
        } else {
          fail(inst.party, round, e);
          honestFailed = true;
        }
      }
    }
    if (last) break;
    // Deliver honest messages first so the attack sees them.
    for (const [inst, out] of outs) {
      for (const [to, msg] of out) delivered.push({ session, round, from: inst.party, to, msg });
    }
    for (const [inst, out] of pending) {
      const ctx: AttackContext<M> = { session, parties: proto.parties, honest, earlier: opts.earlier ?? new Recorder<M>(), delivered, twin: inst.twin };
      const sent = opts.attack ? opts.attack(round, inst.party, out, ctx) : [...out];
      for (const [to, msg] of sent) delivered.push({ session, round, from: inst.party, to, msg });
    }
    if (honestFailed) {
      for (const p of honest) if (!outcomes.has(p)) outcomes.set(p, { party: p, honest: true, status: 'stopped', round });
      break;
    }
    inboxes = instances.map(() => new Map() as Inbox<M>);
    const thisRound = delivered.filter((e) => e.round === round && e.session === session);
    for (const from of order([...new Set(thisRound.map((e) => e.from))])) {
      for (const e of thisRound.filter((x) => x.from === from)) {
        for (const k of inboxOf(e.to)) {
          const box = inboxes[k]!;
          if (!box.has(from)) box.set(from, []);
          box.get(from)!.push(e.msg);
        }
      }
    }
  }
  for (const p of malicious) if (!outcomes.has(p)) outcomes.set(p, { party: p, honest: false, status: 'stopped', round: 0 });
  return { outcomes, honest: honest.map((p) => outcomes.get(p)!), malicious };
}

// ---------------------------------------------------------------- attacks

/** Applies `fn` to the seat's messages of `round` (all recipients, or only `to`); other messages pass. */
export function tamper<M>(round: number, fn: (msg: M, to: PartyId, ctx: AttackContext<M>) => M, to?: PartyId): Attack<M> {
  return (r, _from, out, ctx) => [...out].map(([t, m]) => [t, r === round && (to === undefined || t === to) ? fn(m, t, ctx) : m]);
}

/** Drops the seat's messages of `round` (to everyone, or only to `to`). */
export function drop<M>(round: number, to?: PartyId): Attack<M> {
  return (r, _from, out) => [...out].filter(([t]) => r !== round || (to !== undefined && t !== to));
}

/** Sends the seat's messages of `round` twice. */
export function duplicate<M>(round: number): Attack<M> {
  return (r, _from, out) => [...out].flatMap(([t, m]): Array<[PartyId, M]> => (r === round ? [[t, m], [t, m]] : [[t, m]]));
}

/** Sends each recipient of `round` what the seat computed for another one (a rotation). */
export function swapRecipients<M>(round: number): Attack<M> {
  return (r, _from, out) => {
    const entries = [...out];
    if (r !== round) return entries;
    assert.ok(entries.length >= 2, 'swapping needs two recipients');
    return entries.map(([t], k) => [t, entries[(k + 1) % entries.length]![1]]);
  };
}

/** Replaces the seat's messages of `round` by what it sent the same recipient in an earlier session. */
export function replay<M>(round: number, to?: PartyId): Attack<M> {
  return (r, from, out, ctx) =>
    [...out].map(([t, m]) => [t, r === round && (to === undefined || t === to) ? ctx.earlier.previous(round, from, t) : m]);
}

/** Sends, in `round`, the seat's message of `round − 1` again (a stale or duplicated round). */
export function staleRound<M>(round: number): Attack<M> {
  return (r, from, out, ctx) =>
    [...out].map(([t, m]) => {
      if (r !== round) return [t, m];
      const old = ctx.delivered.find((e) => e.session === ctx.session && e.round === round - 1 && e.from === from && e.to === t);
      assert.ok(old, `no round-${round - 1} message ${from}→${t} to resend`);
      return [t, old.msg];
    });
}

// ---------------------------------------------------------------- expectations

export interface Expected {
  /** The party every failing honest party must name; undefined = nobody may be named. */
  culprit: PartyId | undefined;
  /** For DKLs23 errors: 'ban' or 'abort' (default 'abort'). */
  kind?: 'abort' | 'ban';
  /** These honest parties must be among those that failed. */
  failing?: PartyId[];
  /** The honest parties may also all finish (an attack the protocol need not notice). */
  orDone?: boolean;
}

export function summarize<R>(run: RunResult<R>): string {
  return [...run.outcomes.values()]
    .map((o) => {
      const who = `${o.party}${o.honest ? '' : '(malicious)'}`;
      if (o.status !== 'failed') return `${who}: ${o.status}`;
      const e = o.error as Error & { culprit?: string; kind?: string };
      return `${who}: failed in step ${o.round}: ${e?.name}${e?.kind ? `/${e.kind}` : ''} culprit=${e?.culprit ?? '-'} "${e?.message}"`;
    })
    .join('; ');
}

/**
 * Honest parties must end as `want` says: at least one aborts (unless `orDone` and all
 * finished), every one that fails throws a typed protocol error naming exactly
 * `want.culprit` (never an honest party), and a DKLs23 failure is a ban exactly when
 * `want.kind` is 'ban'.
 */
export function expectOutcome<R>(run: RunResult<R>, want: Expected, label: string): void {
  const honestIds = run.honest.map((o) => o.party);
  const failed = run.honest.filter((o): o is Extract<Outcome<R>, { status: 'failed' }> => o.status === 'failed');
  const ctx = `${label}: ${summarize(run)}`;
  for (const o of failed) {
    assert.ok(o.error instanceof ProtocolError, `${ctx}\n${o.party} threw an untyped error: ${String(o.error)}`);
    const culprit = o.error.culprit;
    assert.ok(culprit === undefined || !honestIds.includes(culprit), `${ctx}\n${o.party} blamed honest ${culprit}`);
    assert.equal(culprit, want.culprit, `${ctx}\n${o.party} named ${culprit ?? 'nobody'}, expected ${want.culprit ?? 'nobody'}`);
    if (o.error instanceof Dkls23Error) assert.equal(o.error.kind, want.kind ?? 'abort', `${ctx}\n${o.party}: failure kind`);
  }
  if (want.orDone && failed.length === 0) {
    assert.ok(run.honest.every((o) => o.status === 'done'), `${ctx}\nno honest failure, yet not all finished`);
    return;
  }
  assert.ok(failed.length > 0, `${ctx}\nno honest party aborted`);
  for (const p of want.failing ?? []) assert.ok(failed.some((o) => o.party === p), `${ctx}\n${p} should have aborted`);
}

/** All honest parties finished; returns their results. */
export function expectSuccess<R>(run: RunResult<R>, label: string): R[] {
  for (const o of run.honest) assert.equal(o.status, 'done', `${label}: ${summarize(run)}`);
  return run.honest.map((o) => (o as Extract<Outcome<R>, { status: 'done' }>).result);
}

// ---------------------------------------------------------------- byte-level mutations

/** A copy of `b` with bit `bit` of byte `at` flipped (negative `at` counts from the end). */
export function flipBit(b: Uint8Array, at = -1, bit = 0): Uint8Array {
  const out = Uint8Array.from(b);
  const k = at < 0 ? out.length + at : at;
  assert.ok(k >= 0 && k < out.length, `flipBit: byte ${at} outside ${out.length}`);
  out[k]! ^= 1 << bit;
  return out;
}

/** The 33-byte compressed point P + G (a different valid point). */
export const pointPlusG = (b: Uint8Array): Uint8Array => encodePoint(decodePoint(b).add(G));
/** The 32-byte scalar x + 1 mod q (a different valid scalar). */
export const scalarPlusOne = (b: Uint8Array): Uint8Array => encodeScalar(Fn.add(BigInt('0x' + Buffer.from(b).toString('hex')), 1n));
/** A 32-byte value ≥ q (2^256 − 1): must be refused, never reduced. */
export const scalarOutOfRange = (): Uint8Array => new Uint8Array(32).fill(0xff);
/** A 33-byte string that is no compressed point (bad prefix). */
export const notAPoint = (b: Uint8Array): Uint8Array => Uint8Array.from(b).fill(0x05, 0, 1);

/** A DKLs23 round message split without any check: version, round tag, fields. */
export interface LooseFields {
  version: number;
  tag: number;
  fields: Uint8Array[];
}

export function splitFields(bytes: Uint8Array): LooseFields {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Uint8Array[] = [];
  let o = 4;
  for (let k = 0; k < view.getUint16(2); k++) {
    const len = view.getUint32(o);
    fields.push(bytes.slice(o + 4, o + 4 + len));
    o += 4 + len;
  }
  assert.equal(o, bytes.length, 'splitFields: not a DKLs23 round message');
  return { version: bytes[0]!, tag: bytes[1]!, fields };
}

export function joinFields({ version, tag, fields }: LooseFields): Uint8Array {
  const out = new Uint8Array(4 + fields.reduce((n, f) => n + 4 + f.length, 0));
  const view = new DataView(out.buffer);
  out[0] = version;
  out[1] = tag;
  view.setUint16(2, fields.length);
  let o = 4;
  for (const f of fields) {
    view.setUint32(o, f.length);
    out.set(f, o + 4);
    o += 4 + f.length;
  }
  return out;
}

/** Rewrites field `k` (or, with `sub`, the bytes [sub.offset, sub.offset + sub.length) of it). */
export function mapField(bytes: Uint8Array, k: number, fn: (f: Uint8Array) => Uint8Array, sub?: { offset: number; length: number }): Uint8Array {
  const m = splitFields(bytes);
  const f = m.fields[k];
  assert.ok(f, `no field ${k} (message has ${m.fields.length})`);
  if (sub) {
    assert.ok(sub.offset + sub.length <= f.length, `sub-field outside field ${k}`);
    const changed = fn(f.slice(sub.offset, sub.offset + sub.length));
    const whole = Uint8Array.from(f);
    whole.set(changed, sub.offset);
    m.fields[k] = whole;
  } else {
    m.fields[k] = fn(f);
  }
  return joinFields(m);
}

export const fieldOf = (bytes: Uint8Array, k: number): Uint8Array => splitFields(bytes).fields[k]!;

// ---------------------------------------------------------------- DKLs23 engines as rounds

/** One message per sender, as the ceremony channel delivers (a second one is refused, naming its sender). */
function single(inbox: Inbox<Uint8Array>): Map<PartyId, Uint8Array> {
  const out = new Map<PartyId, Uint8Array>();
  for (const [from, ms] of inbox) {
    if (ms.length !== 1) throw abort(`${ms.length} messages in one round`, from);
    out.set(from, ms[0]!);
  }
  return out;
}

/** The DKLs23 DKG: rounds 1 and 4 are broadcasts, 2 and 3 per peer; `finish` gives the key share. */
export function dkls23DkgProtocol(ids: PartyId[], t: number): Protocol<Uint8Array, Dkls23KeyShare> {
  return {
    name: `DKLs23 DKG ${t}-of-${ids.length}`,
    parties: ids,
    rounds: 4,
    create(p) {
      const dkg = new Dkls23Dkg(p, ids, t);
      return {
        send(round, inbox) {
          if (round === 1) return broadcast(ids, p, dkg.round1());
          if (round === 2) return dkg.round2(single(inbox));
          if (round === 3) return dkg.round3(single(inbox));
          return broadcast(ids, p, dkg.round4(single(inbox)));
        },
        finish: (inbox) => dkg.finish(single(inbox)),
      };
    },
  };
}

export interface Dkls23SignOptions {
  /** Who combines the round-3 partials (default: the first signer). */
  combiner?: PartyId;
  tweak?: bigint;
  /** The session id all signers were given (default: fresh random). */
  sid?: Uint8Array;
  /** Lets one seat run with another session id than the rest. */
  sidOf?: (party: PartyId, sid: Uint8Array) => Uint8Array;
}

/**
 * DKLs23 signing among the holders of `shares` (their own seats): rounds 1 and 2 per peer,
 * round 3 each partial to the combiner, whose `finish` combines and verifies (the others
 * finish with null).
 */
export function dkls23SignProtocol(shares: Dkls23KeyShare[], msgHash: Uint8Array, opts: Dkls23SignOptions = {}): Protocol<Uint8Array, EcdsaSignature | null> {
  const ids = shares.map((s) => s.self);
  const combiner = opts.combiner ?? ids[0]!;
  const sid = opts.sid ?? new Uint8Array(randomBytes(32));
  return {
    name: `DKLs23 sign ${ids.join(',')}`,
    parties: ids,
    rounds: 3,
    create(p) {
      const share = shares.find((s) => s.self === p)!;
      const signer = new Dkls23Signer(share, ids, opts.sidOf ? opts.sidOf(p, sid) : sid, msgHash, opts.tweak ?? 0n);
      let own: Uint8Array | undefined;
      return {
        send(round, inbox) {
          if (round === 1) return signer.round1();
          if (round === 2) return signer.round2(single(inbox));
          const partial = encodeRound3(signer.round3(single(inbox)));
          if (p === combiner) {
            own = partial;
            return new Map();
          }
          return new Map([[combiner, partial]]);
        },
        finish(inbox) {
          if (p !== combiner) return null;
          const partials = single(inbox);
          const all = ids.map((q) => {
            if (q === p) return decodeRound3(own!, p);
            const m = partials.get(q);
            if (!m) throw abort('missing message', q);
            return decodeRound3(m, q);
          });
          return combine(signer.publicKey, msgHash, all);
        },
      };
    },
  };
}

// ---------------------------------------------------------------- FROST engines as rounds

export type FrostDkgWire = DkgRound1 | DkgRound1Set | DkgRound2;

function one<M>(inbox: Inbox<M>, from: PartyId, what: string): M {
  const ms = inbox.get(from);
  if (!ms || ms.length === 0) throw new ProtocolError(`missing ${what}`, from);
  if (ms.length > 1) throw new ProtocolError(`${ms.length} ${what} messages`, from);
  return ms[0]!;
}

/**
 * FROST DKG as the ceremonies run it (src/ceremony/frost-keygen.ts,
 * src/ceremony/frost-dkg-rounds.ts): round 1, each participant's package to the
 * coordinator; round 2, the coordinator checks the round-1 set (its own round2) and only
 * then relays it; round 3, shares peer to peer, each participant checking the relayed set
 * as relayed by the coordinator. The ceremony's own checks are reproduced here (schema
 * parse, `from` equals the channel sender, one message per step), so the engine sees what
 * it would in a ceremony.
 */
export function frostDkgProtocol(suite: FrostSuite, ids: PartyId[], t: number, coordinator: PartyId = ids[0]!): Protocol<FrostDkgWire, FrostKeyShare> {
  return {
    name: `FROST DKG ${suite.name} ${t}-of-${ids.length}`,
    parties: ids,
    rounds: 3,
    create(p) {
      const dkg = new FrostDkg(suite, p, t, ids.length);
      const mine = dkg.round1();
      let shares: DkgRound2[] | undefined;
      return {
        send(round, inbox) {
          if (round === 1) return p === coordinator ? new Map() : new Map([[coordinator, mine]]);
          if (round === 2) {
            if (p !== coordinator) return new Map();
            const packages = ids
              .filter((q) => q !== p)
              .map((q) => {
                const r1 = parseDkgRound1(one(inbox, q, 'round-1 package'), q);
                if (r1.from !== q) throw new ProtocolError('round-1 package carries another party id', q);
                return r1;
              });
            const set: DkgRound1Set = { v: 2, packages: [mine, ...packages] };
            shares = dkg.round2(set);
            return new Map(ids.filter((q) => q !== p).map((q) => [q, set]));
          }
          if (p !== coordinator) shares = dkg.round2(parseDkgRound1Set(one(inbox, coordinator, 'round-1 set'), coordinator), coordinator);
          return new Map(shares!.map((m) => [m.to as PartyId, m]));
        },
        finish(inbox) {
          const received: DkgRound2[] = [];
          for (const [from, ms] of inbox) {
            for (const m of ms) {
              const r2 = parseDkgRound2(m, from);
              if (r2.from !== from) throw new ProtocolError('round-2 share carries another party id', from);
              received.push(r2);
            }
          }
          return dkg.round3(received).share;
        },
      };
    },
  };
}

export type FrostSignWire = SignCommitment | SigningPackage | SignatureShare;

/**
 * FROST signing as the ceremonies run it (src/ceremony/frost-sign.ts): round 1,
 * each signer's commitment to the coordinator (itself a signer); round 2, the signing
 * package to each signer; round 3, signature shares to the coordinator, whose `finish`
 * aggregates (the others finish with null).
 */
export function frostSignProtocol(suite: FrostSuite, shares: FrostKeyShare[], msg: Uint8Array, coordinator: PartyId = shares[0]!.party): Protocol<FrostSignWire, Uint8Array | null> {
  const ids = shares.map((s) => s.party);
  return {
    name: `FROST sign ${suite.name} ${ids.join(',')}`,
    parties: ids,
    rounds: 3,
    create(p) {
      const share = shares.find((s) => s.party === p)!;
      const signer = new FrostSigner(suite, share, msg);
      const agg = p === coordinator ? new FrostAggregator(suite, share.publicPackage, msg) : undefined;
      let pkg: SigningPackage | undefined;
      return {
        send(round, inbox) {
          if (round === 1) {
            const c = signer.commit();
            if (agg) {
              agg.addCommitment(c);
              return new Map();
            }
            return new Map([[coordinator, c]]);
          }
          if (round === 2) {
            if (!agg) return new Map();
            for (const q of ids.filter((x) => x !== p)) {
              const c = parseSignCommitment(one(inbox, q, 'commitment'), q);
              if (c.from !== q) throw new ProtocolError('commitment carries another party id', q);
              agg.addCommitment(c);
            }
            pkg = agg.signingPackage(ids);
            return new Map(ids.filter((x) => x !== p).map((x) => [x, pkg!]));
          }
          if (agg) return new Map();
          // Every package this signer is sent reaches its engine (a second one must be refused there).
          const packages = inbox.get(coordinator) ?? [];
          if (packages.length === 0) throw new ProtocolError('missing signing package', coordinator);
          let share: SignatureShare | undefined;
          for (const m of packages) share = signer.sign(parseSigningPackage(m, coordinator), coordinator);
          return new Map([[coordinator, share!]]);
        },
        finish(inbox) {
          if (!agg) return null;
          const received: SignatureShare[] = [signer.sign(pkg!)];
          for (const [from, ms] of inbox) {
            for (const m of ms) {
              const s = parseSignatureShare(m, from);
              if (s.from !== from) throw new ProtocolError('signature share carries another party id', from);
              received.push(s);
            }
          }
          return agg.aggregate(received);
        },
      };
    },
  };
}
