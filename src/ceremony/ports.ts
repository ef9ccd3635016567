import type { PartyId } from '../core/ids.js';
import type { BanList } from './bans.js';
import type { KeyOperation } from './operations.js';
import type { CeremonySession } from './session.js';

/**
 * What a ceremony needs from the party that runs it, and nothing more. The flows (frost-*.ts,
 * dkls-*.ts) are written once on these ports; a node implements them over its stores,
 * policy gate and audit log (src/node/ceremonies/), a device party over its share store and
 * the operation it asked for (src/sdk/device/). The ban list is bans.ts's BanList itself:
 * one list per process (node) or per share store (device).
 */

/** A participant's decision to take part in an operation. */
export interface Authorizer {
  /**
   * Whether this party takes part in `op`, which `coordinator` asks of it: throws to refuse
   * (a TandemError is refused with its type, anything else as executor_result). A node checks
   * the caller's evidence, its key, its room and its policy; a device that the operation is
   * exactly the one it asked for.
   */
  admit(op: KeyOperation, coordinator: PartyId): Promise<Admission>;
}

/** What a participant admitted: whom it runs the ceremony with, and what it reserved. */
export interface Admission {
  /** The parties besides the coordinator this party accepts in the ceremony. */
  readonly known: ReadonlySet<PartyId>;
  /** The room's client parties: every one of them must be in the ceremony. */
  readonly clients: readonly PartyId[];
  /** For a sign: the key as this party holds it. */
  readonly key?: { readonly parties: readonly PartyId[]; readonly threshold: number };
  /** This party's part can no longer be taken back: what was reserved stays spent. */
  keep(): void;
  /** The end of this party's ceremony: gives back what was reserved unless kept. Never throws. */
  release(why: string): Promise<void>;
}

/** Where a party's shares live. */
export interface ShareVault<S> {
  /** This party's share of `keyId`, a copy that the caller wipes. */
  open(keyId: string): Promise<S>;
  /** Keeps a new share, durably when it resolves (before the key is confirmed); the caller wipes `share` after. */
  keep(keyId: string, share: S): Promise<void>;
  /** Drops a kept share: its ceremony was undone. */
  forget(keyId: string): Promise<void>;
}

/** Who the node parties are, as a coordinator sees them. */
export interface PeerDirectory {
  /** Every other node. */
  readonly nodes: readonly PartyId[];
  /** Invites node `to` to `session`'s ceremony (through its inbox, with the caller's evidence). */
  invite(session: CeremonySession, to: PartyId, op: KeyOperation): Promise<void>;
}

/** A finished signature's audit record. */
export interface AuditSink {
  signed(entry: { ceremony: string; keyId: string; family: string; msgs: Uint8Array[]; signers: PartyId[] }): Promise<void>;
}

/** One participant's seat in one ceremony: a node invited by its peer, or a room's client. */
export interface ParticipantSeat {
  readonly session: CeremonySession;
  readonly coordinator: PartyId;
  readonly stepTimeoutMs: number;
  /** The most messages one sign may carry here (a node's TANDEM_MAX_BATCH). */
  readonly maxBatch: number;
  readonly bans: BanList;
  readonly authorizer: Authorizer;
  /** Tells the coordinator this party won't take part, before it contributed anything. */
  refuse(e: unknown): void;
  /**
   * This party stopped after it began: `e` is why (the seat may record it), `tell` whether
   * the coordinator should hear an abort (false only when the coordinator's own abort undid a
   * key share this party kept; an abort answered otherwise is harmless, the room is closing).
   */
  abandon(e: unknown, tell: boolean): void;
}

/** The coordinator's seat: a node that took the caller's request. */
export interface CoordinatorSeat {
  readonly self: PartyId;
  readonly stepTimeoutMs: number;
  /** Opens the ceremony's session (its room on the relay, with the room's clients admitted). */
  open(): Promise<CeremonySession>;
  readonly peers: PeerDirectory;
  /** The room's uuid and client parties, if the ceremony is in a room. */
  readonly room?: { readonly uuid: string; readonly clients: readonly PartyId[] };
  readonly bans: BanList;
  readonly audit: AuditSink;
}

/** The key a coordinator signs with, as its own records have it. */
export interface SigningKey {
  readonly keyId: string;
  readonly parties: readonly PartyId[];
  readonly threshold: number;
}
