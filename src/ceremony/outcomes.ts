import { TandemError } from '../core/errors.js';
import type { PartyId } from '../core/ids.js';
import { ProtocolError } from '../protocols/errors.js';
import { PeerBannedError, TooManyCeremoniesError } from './bans.js';
import { CallerGoneError } from './caller-gone.js';
import type { KeyOperation } from './operations.js';
import { STEP, clientInvitation } from './operations.js';
import type { ParticipantSeat, PeerDirectory } from './ports.js';
import { PeerFailure, type AbortCode, type CeremonySession } from './session.js';

/**
 * How a ceremony gathers its parties and ends: first responders, refusals, aborts, and the
 * API error a failure becomes. The same for every flow and family.
 */

/**
 * Brings the other parties of a ceremony together: every client of its room (told in the
 * room itself, and all required) and `need` minus that many nodes, the first to answer of
 * those invited through their inboxes. `answer` reads a party's first message.
 */
export async function gatherParties<T>(
  s: CeremonySession,
  peers: PeerDirectory,
  opts: { nodes: readonly PartyId[]; clients: readonly PartyId[]; need: number; op: KeyOperation },
  answer: (p: PartyId) => Promise<T>,
): Promise<{ winners: Array<[PartyId, T]>; losers: PartyId[]; failures: PeerFailure[] }> {
  const needNodes = opts.need - opts.clients.length;
  const nodes = needNodes > 0 ? [...opts.nodes] : [];
  await Promise.all(nodes.map((p) => peers.invite(s, p, opts.op)));
  // A client gets the operation itself (never the caller's evidence) and checks it is what it asked for.
  for (const c of opts.clients) s.step(c, STEP.invite, clientInvitation(opts.op));
  const [fromClients, fromNodes] = await Promise.all([Promise.allSettled(opts.clients.map(answer)), firstResponders(nodes, needNodes, answer)]);
  // Ended from outside while gathering (its caller left, a ban): every party, chosen or not,
  // is to hear that reason from the coordinator's abort, not a `not_selected` sent first.
  if (s.failure) throw s.failure;
  const winners: Array<[PartyId, T]> = [];
  const failures = [...fromNodes.failures];
  fromClients.forEach((r, i) => {
    if (r.status === 'fulfilled') winners.push([opts.clients[i]!, r.value]);
    else failures.push(asPeerFailure(opts.clients[i]!, r.reason));
  });
  if (winners.length < opts.clients.length) return { winners, losers: [...fromNodes.winners.map(([p]) => p), ...fromNodes.losers], failures };
  return { winners: [...winners, ...fromNodes.winners], losers: fromNodes.losers, failures };
}

/**
 * Waits for `ask` to succeed for `need` of the candidates and returns as soon as it has,
 * in order of arrival, so one slow or dead peer doesn't hold up a t-of-n ceremony.
 */
export async function firstResponders<T>(
  candidates: PartyId[],
  need: number,
  ask: (p: PartyId) => Promise<T>,
): Promise<{ winners: Array<[PartyId, T]>; losers: PartyId[]; failures: PeerFailure[] }> {
  const winners: Array<[PartyId, T]> = [];
  const failures: PeerFailure[] = [];
  if (need <= 0 || candidates.length === 0) return { winners, losers: candidates, failures };
  await new Promise<void>((resolve) => {
    let settled = 0;
    const done = () => {
      settled += 1;
      if (winners.length >= need || settled === candidates.length) resolve();
    };
    for (const p of candidates) {
      ask(p).then(
        (v) => {
          if (winners.length < need) winners.push([p, v]);
          done();
        },
        (e: unknown) => {
          failures.push(asPeerFailure(p, e));
          done();
        },
      );
    }
  });
  const chosen = new Set(winners.map(([p]) => p));
  return { winners, losers: candidates.filter((p) => !chosen.has(p)), failures };
}

export function asPeerFailure(p: PartyId, e: unknown): PeerFailure {
  if (e instanceof PeerFailure) return e;
  if (e instanceof ProtocolError) return new PeerFailure(e.culprit ?? p, e.reason, 'executor_result', true);
  return new PeerFailure(p, (e as Error).message ?? String(e));
}

/**
 * Turns why a ceremony could not gather enough parties into the API's terms: a peer
 * that misbehaved is named (executor_result); if every failure is the same refusal (say
 * the key is unknown there), that refusal is the answer; otherwise executor_result
 * listing each party's reason.
 */
export function notEnoughParties(what: string, have: number, need: number, failures: PeerFailure[]): TandemError {
  const cheat = failures.find((f) => f.misbehaved);
  if (cheat) return new TandemError('executor_result', `${what} failed: party ${cheat.party} sent an invalid message: ${cheat.reason}`);
  const types = new Set(failures.map((f) => f.errType));
  const [only] = types;
  const detail = failures.map((f) => `${f.party}: ${f.reason}`).join('; ');
  if (types.size === 1 && only && only !== 'internal_problem') {
    return new TandemError(only, `${what}: ${have} of ${need} parties took part (${detail})`);
  }
  return new TandemError('executor_result', `${what}: ${have} of ${need} parties took part (${detail || 'no answers'})`);
}

/** Maps anything thrown inside a ceremony to an API error, naming a cheating party. */
export function ceremonyError(what: string, e: unknown): TandemError {
  if (e instanceof TandemError) return e;
  if (e instanceof CallerGoneError) return new TandemError('executor_result', `${what} cancelled: the caller went away`);
  if (e instanceof PeerBannedError) return new TandemError('executor_result', `${what} failed: party ${e.party} is banned for this key (${e.banReason})`);
  if (e instanceof TooManyCeremoniesError) return new TandemError('executor_result', `${what} failed: ${e.message}`);
  if (e instanceof ProtocolError) {
    return new TandemError('executor_result', e.culprit ? `${what} failed: party ${e.culprit} sent an invalid message: ${e.reason}` : `${what} failed: ${e.reason}`);
  }
  if (e instanceof PeerFailure) {
    if (e.errType && e.errType !== 'internal_problem') return new TandemError(e.errType, `${what} failed: ${e.message}`);
    return new TandemError('executor_result', `${what} failed: party ${e.party}: ${e.reason}`);
  }
  return new TandemError('internal_problem', `${what} failed`);
}

/**
 * A coordinator gives its ceremony up as soon as its HTTP caller has gone: every wait and
 * step of the session throws CallerGoneError, so the coordinator stops at its next message
 * (at most the round it is computing finishes), aborts its peers with `caller_gone` (see
 * abortCodeFor) and frees its key-generation slot and budgets on the way out, and the peers
 * free theirs when the abort reaches them. Without this, twenty abandoned key generations
 * kept every node busy for minutes.
 */
export function abandonWhenCallerGone(session: CeremonySession, callerGone: AbortSignal | undefined): void {
  if (!callerGone) return;
  if (callerGone.aborted) session.fail(new CallerGoneError());
  else callerGone.addEventListener('abort', () => session.fail(new CallerGoneError()), { once: true });
}

/**
 * The abort a coordinator sends its peers when its ceremony failed. Asked of the session,
 * not of the error that surfaced: a departed caller often shows as the failure it caused
 * (too few parties answered, a round not received).
 */
export function abortCodeFor(session: CeremonySession): AbortCode {
  return session.failure instanceof CallerGoneError ? 'caller_gone' : 'ceremony_failed';
}

/** Tells a peer we won't go on, without waiting for it to listen. */
export function abortAll(session: CeremonySession, parties: Iterable<PartyId>, code: AbortCode): void {
  for (const p of parties) {
    try {
      session.send(p, { kind: 'abort', code });
    } catch {
      // The relay is gone; the peer's own timeout ends its side.
    }
  }
}

/** A participant's refusal, sent before it contributes anything. */
export function refuse(session: CeremonySession, to: PartyId, e: unknown): void {
  const err = e instanceof TandemError ? e : ceremonyError('ceremony', e);
  try {
    session.send(to, { kind: 'refuse', errType: err.type, ...(err.ruleId ? { ruleId: err.ruleId } : {}) });
  } catch {
    // nothing more to do: the coordinator times out
  }
}

/** The coordinator said it won't go on (an abort message of any code). */
export const wasAborted = (e: unknown): boolean => /aborted/.test((e as Error)?.message ?? '');
/** Not chosen among the first to answer: the normal end for a t-of-n participant that answered late. */
export const wasNotSelected = (e: unknown): boolean => e instanceof Error && /not_selected/.test(e.message);

/**
 * An admitted signer that stopped before its shares were out: the coordinator is told, and
 * the answer is why its reservation goes back (not being selected is the normal end for a
 * t-of-n participant that answered late).
 */
export function signerStopped(seat: ParticipantSeat, e: unknown): string {
  seat.abandon(e, true);
  return wasNotSelected(e) ? 'not selected' : 'the ceremony failed before this node signed';
}
