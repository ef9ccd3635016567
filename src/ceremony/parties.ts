import Type from 'typebox';
import { parser } from '../protocols/wire.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';
import type { Admission } from './ports.js';

/**
 * What a participant checks of the party list a coordinator names (a DKG's round-1 set, a
 * DKLs23 start message): `count` parties, this party once, the coordinator, every other one a
 * party this party knows (a node; a client of its room), every client of its room in it.
 * Anything else names the coordinator. Returns the other parties.
 */
export function checkParties(self: PartyId, coordinator: PartyId, admission: Admission, parties: readonly PartyId[], count: number): PartyId[] {
  const others = parties.filter((p) => p !== self);
  if (
    parties.length !== count ||
    others.length !== count - 1 ||
    !parties.includes(coordinator) ||
    !others.every((p) => p === coordinator || admission.known.has(p)) ||
    !admission.clients.every((c) => parties.includes(c))
  ) {
    throw new ProtocolError('the party list is not this party, the coordinator and parties it knows', coordinator);
  }
  return others;
}

const PartyList = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 256 });

/** A DKLs23 keygen's start: every party of the key. */
export const parseDklsKeygenStart = parser('start message', Type.Object({ parties: PartyList }, { additionalProperties: true }));

/** A DKLs23 sign's start: the signing set and every signer's session-id contribution (checked by dkls-sign-rounds.ts). */
export const parseDklsSignStart = parser(
  'start message',
  Type.Object({ signers: PartyList, contributions: Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 64 })) }, { additionalProperties: true }),
);

/** A DKLs23 sign's ready: the participant's contribution to the session id. */
export const parseDklsReady = parser('ready message', Type.Object({ contribution: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: true }));
