import type { KeyFamily } from '../core/families.js';

/** What a rule is asked about and what it may use: the rule kinds (rules/) see only this. */
export type Operation = 'keygen' | 'sign' | 'derive' | 'public-key';

/** One operation as a rule sees it. Hex strings are lower case without 0x. */
export interface OperationContext {
  /**
   * The ceremony this decision is for; null when there is none (a `derive` or `public-key`
   * read) or not yet (the coordinator decides before it opens the ceremony). Chosen by the
   * coordinator, so it identifies no single decision: a Rule Server gets it to correlate
   * only, and its answer is bound to the request body with a fresh request id instead.
   */
  ceremonyId: string | null;
  operation: Operation;
  keyFamily: KeyFamily;
  /** null for keygen. */
  keyId: string | null;
  publicKey: string | null;
  derivationPath: string | null;
  derivedPublicKey: string | null;
  /** One message (a batch is evaluated message by message). */
  msg: string | null;
  extraData: string | null;
  userId: string;
  nodeId: string;
  /** ISO 8601. */
  timestamp: string;
}

/**
 * Node-local counters for rate limits and daily value caps; atomic so concurrent requests
 * can't both slip under a limit. A take is a reservation the caller can give back (the
 * `return*` methods) when what it was taken for never happened.
 */
export interface RuleCounters {
  /**
   * Records `count` uses (default 1) at `now` in a sliding window unless that would make
   * more than `max` in it: all or none, so a batch never takes part of the budget; false = refused.
   */
  takeRate(counterKey: string, windowSeconds: number, max: number, now: Date, count?: number): Promise<boolean>;
  /** Gives back `count` uses recorded at exactly `at` by takeRate. */
  returnRate(counterKey: string, at: Date, count: number): Promise<void>;
  /** Adds `amount` to the UTC day's total unless that would exceed `cap`; false = refused. */
  addDaily(counterKey: string, day: string, amount: bigint, cap: bigint): Promise<boolean>;
  /** Takes `amount` added by addDaily off the day's total again (never below 0). */
  returnDaily(counterKey: string, day: string, amount: bigint): Promise<void>;
}

/** The node's signing identity (Ed25519): the Rule Server tells nodes apart by it. */
export interface NodeSigningKey {
  nodeId: string;
  /** 32-byte Ed25519 public key, hex. */
  publicKeyHex: string;
  sign(message: Uint8Array): Uint8Array;
}
