/**
 * Branded identifiers: a KeyId can't be passed where a UserId is expected, even
 * though both are strings on the wire.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A signer node or other protocol party, e.g. "node-1". */
export type PartyId = Brand<string, 'PartyId'>;
export type UserId = Brand<string, 'UserId'>;
export type KeyId = Brand<string, 'KeyId'>;
/** One run of a protocol (keygen, sign, ...) among parties; also its relay room name. */
export type CeremonyId = Brand<string, 'CeremonyId'>;

export const PARTY_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function asPartyId(s: string): PartyId {
  if (!PARTY_ID_RE.test(s)) throw new Error(`invalid party id ${JSON.stringify(s)}`);
  return s as PartyId;
}
