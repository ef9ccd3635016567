import { isErrType, type ErrType } from '../core/errors.js';
import type { CeremonyId, PartyId } from '../core/ids.js';

/**
 * The end-to-end channel of a ceremony: the node's CeremonyChannel (Node crypto) or the
 * device's byte-compatible PortableCeremonyChannel. `open` throws for anything that is not
 * authentic, fresh and in order.
 */
export interface SessionChannel {
  readonly ceremony: CeremonyId;
  seal(to: PartyId, plaintext: Uint8Array): Uint8Array;
  open(from: PartyId, envelope: Uint8Array): Uint8Array;
  heardFrom(party: PartyId): boolean;
  close(): void;
}

/** The relay as a session uses it (RelayConnection; the node's RelayClient is the same over `ws`). */
export interface SessionLink {
  readonly closed: boolean;
  send(room: string, from: string, to: string, data: Uint8Array): void;
  leave(room: string, party: string): void;
}

/**
 * Why a party stops a ceremony, as a fixed code: a peer's own words never reach a user's
 * err_msg or our logs, so a peer can't inject text (or phishing links) into them.
 * `caller_gone`: the coordinator's HTTP caller disconnected, so nobody wants the result.
 */
export const ABORT_CODES = ['not_selected', 'ceremony_failed', 'participant_failed', 'client_refused', 'banned', 'caller_gone', 'unspecified'] as const;
export type AbortCode = (typeof ABORT_CODES)[number];

const RULE_ID_RE = /^[0-9a-f-]{36}$/;

/** What parties of a ceremony say to each other, sealed end to end. */
export type CeremonyMessage =
  | { kind: 'step'; step: string; body: unknown }
  /** The sender won't take part; `errType` says why in API terms, `ruleId` which of its policy rules refused. */
  | { kind: 'refuse'; errType: ErrType; ruleId?: string }
  | { kind: 'abort'; code: AbortCode };

/** A party failed us: refused, aborted, sent garbage or went silent. */
export class PeerFailure extends Error {
  constructor(
    readonly party: PartyId,
    readonly reason: string,
    readonly errType?: ErrType,
    /** True when the party sent something provably wrong, as opposed to being absent. */
    readonly misbehaved = false,
  ) {
    super(`${party}: ${reason}`);
    this.name = 'PeerFailure';
  }
}

interface Waiter {
  resolve(m: CeremonyMessage): void;
  reject(e: Error): void;
}

/**
 * One ceremony as one party sees it: a relay room whose traffic is sealed by a
 * CeremonyChannel, with per-sender FIFO queues so protocol code can `expect` the next
 * message of a given party and step, with a deadline.
 */
export class CeremonySession<C extends SessionChannel = SessionChannel> {
  readonly #queues = new Map<PartyId, CeremonyMessage[]>();
  readonly #waiters = new Map<PartyId, Waiter>();
  #closed = false;
  /** Set by fail(): every later expect and step throws it. */
  #failure: Error | undefined;
  /** Runs right before every step message is sealed; throwing stops the send (bans.ts). */
  #sendCheck: (() => void) | undefined;

  constructor(
    readonly self: PartyId,
    readonly channel: C,
    private readonly relay: SessionLink,
    private readonly onDrop: (why: string) => void = () => {},
  ) {}

  get id(): CeremonyId {
    return this.channel.ceremony;
  }

  /** Called with every relay message of the room (and with an invite that came by inbox). */
  deliver(from: PartyId, data: Uint8Array): void {
    let msg: CeremonyMessage;
    try {
      msg = parseMessage(this.channel.open(from, data));
    } catch (e) {
      // Not from `from`, or garbage: drop it, so an outsider can't disrupt the ceremony.
      this.onDrop(e instanceof Error && e.name === 'ChannelError' ? e.message : `undecodable message from ${from}`);
      return;
    }
    this.accept(from, msg);
  }

  accept(from: PartyId, msg: CeremonyMessage): void {
    const waiter = this.#waiters.get(from);
    if (waiter) {
      this.#waiters.delete(from);
      waiter.resolve(msg);
      return;
    }
    const q = this.#queues.get(from) ?? [];
    q.push(msg);
    this.#queues.set(from, q);
  }

  send(to: PartyId, msg: CeremonyMessage): void {
    if (msg.kind === 'step') {
      if (this.#failure) throw this.#failure;
      this.#sendCheck?.();
    }
    if (this.#closed) return;
    this.relay.send(this.id, this.self, to, this.channel.seal(to, new TextEncoder().encode(JSON.stringify(msg))));
  }

  step(to: PartyId, step: string, body: unknown): void {
    this.send(to, { kind: 'step', step, body });
  }

  /** The body of `from`'s next message, which must be `step`; anything else is a PeerFailure. */
  async expect(from: PartyId, step: string, timeoutMs: number): Promise<unknown> {
    const msg = await this.#next(from, timeoutMs, step);
    if (msg.kind === 'refuse') throw new PeerFailure(from, `refused (${msg.errType}${msg.ruleId ? `, rule ${msg.ruleId}` : ''})`, msg.errType);
    if (msg.kind === 'abort') throw new PeerFailure(from, `aborted (${msg.code})`);
    if (msg.step !== step) throw new PeerFailure(from, `sent another step where ${step} was due`, undefined, true);
    return msg.body;
  }

  /**
   * Guards every later step message: `check` runs synchronously right before each one is
   * sealed, so a ban marked anywhere in this process stops the very next send.
   */
  guardSends(check: () => void): void {
    this.#sendCheck = check;
  }

  /** What fail() ended the ceremony with, if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Ends the ceremony from outside (a ban seen by another ceremony): waits and sends throw `e`. */
  fail(e: Error): void {
    if (this.#failure) return;
    this.#failure = e;
    for (const w of this.#waiters.values()) w.reject(e);
    this.#waiters.clear();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [party, w] of this.#waiters) w.reject(new PeerFailure(party, 'ceremony closed'));
    this.#waiters.clear();
    this.#queues.clear();
    this.channel.close();
    if (!this.relay.closed) this.relay.leave(this.id, this.self);
  }

  #next(from: PartyId, timeoutMs: number, step: string): Promise<CeremonyMessage> {
    if (this.#failure) return Promise.reject(this.#failure);
    const q = this.#queues.get(from);
    const head = q?.shift();
    if (head) return Promise.resolve(head);
    if (this.#closed) return Promise.reject(new PeerFailure(from, 'ceremony closed'));
    if (this.#waiters.has(from)) return Promise.reject(new Error(`already waiting for ${from}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(from);
        reject(new PeerFailure(from, `no ${step} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(from, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }
}

function parseMessage(bytes: Uint8Array): CeremonyMessage {
  const m = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  if (m.kind === 'step' && typeof m.step === 'string' && 'body' in m) return { kind: 'step', step: m.step, body: m.body };
  if (m.kind === 'refuse' && typeof m.errType === 'string' && isErrType(m.errType)) {
    return { kind: 'refuse', errType: m.errType, ...(typeof m.ruleId === 'string' && RULE_ID_RE.test(m.ruleId) ? { ruleId: m.ruleId } : {}) };
  }
  if (m.kind === 'abort') return { kind: 'abort', code: (ABORT_CODES as readonly unknown[]).includes(m.code) ? (m.code as AbortCode) : 'unspecified' };
  throw new Error('not a ceremony message');
}
