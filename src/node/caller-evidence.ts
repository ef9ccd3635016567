import type { UserId } from '../core/ids.js';
import type { UserRecord } from '../storage/store.js';
import { envelopeOf, envelopeUnder, type SignedEnvelope } from './signed-requests.js';

/**
 * What a coordinator puts in an invitation in place of its caller's credential. No bearer
 * secret ever leaves the node that received it: a peer gets either the caller's own signed
 * request (which it verifies, spends and matches against the invitation itself), or the
 * coordinator's word that it authenticated the caller (its invitation is sealed by its
 * identity key, so the word is the coordinator's and nobody else's). A participant decides
 * which it accepts: the word of a peer is refused for users, or for the admin, that this node
 * requires signatures from (caller-auth.ts).
 */
export type Evidence =
  | { kind: 'user-signed'; envelope: SignedEnvelope; text: string }
  | { kind: 'user-vouched'; userId: UserId }
  | { kind: 'admin-signed'; envelope: SignedEnvelope; text: string }
  | { kind: 'admin-vouched' };

/** The evidence for a user the coordinator authenticated with `credential` (its API key or a signed request). */
export function userEvidence(credential: string, user: UserRecord): string {
  return envelopeOf(credential) ? credential : JSON.stringify({ vouched_user: user.userId });
}

/**
 * A caller as the HTTP edge authenticated it, once: the user, and the evidence its
 * ceremonies forward to the other parties in place of its credential.
 */
export interface Principal {
  user: UserRecord;
  evidence: string;
}

export const principalOf = (credential: string, user: UserRecord): Principal => ({ user, evidence: userEvidence(credential, user) });

/** The admin as the HTTP edge authenticated it: what its ceremonies forward. */
export interface AdminPrincipal {
  evidence: string;
}

/** The evidence for an admin operation the coordinator authenticated with `credential`. */
export function adminEvidence(credential: string): string {
  return adminEnvelopeOf(credential) ? credential : JSON.stringify({ vouched_admin: true });
}

/** An admin-signed request as it travels (the same envelope as a user's, under its own name). */
export function encodeAdminEnvelope(e: SignedEnvelope): string {
  return JSON.stringify({ admin_request: e });
}

export function adminEnvelopeOf(text: string | undefined): SignedEnvelope | undefined {
  return envelopeUnder(text, 'admin_request');
}

/** Undefined for anything else, including a bearer key (a peer that still forwards one is refused). */
export function parseEvidence(text: string): Evidence | undefined {
  const signed = envelopeOf(text);
  if (signed) return { kind: 'user-signed', envelope: signed, text };
  const admin = adminEnvelopeOf(text);
  if (admin) return { kind: 'admin-signed', envelope: admin, text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const o = parsed as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && typeof o.vouched_user === 'string' && /^[0-9a-f]{32}$/.test(o.vouched_user)) return { kind: 'user-vouched', userId: o.vouched_user as UserId };
  if (keys.length === 1 && o.vouched_admin === true) return { kind: 'admin-vouched' };
  return undefined;
}

