import { TandemError } from '../core/errors.js';
import type { KeyFamily } from '../core/families.js';
import { FROST_SUITES, type FrostSuite } from '../protocols/frost/suite.js';
import { OP } from './operations.js';

/**
 * The key families and what runs them: a family's entry names its protocol engine (and,
 * for FROST, its ciphersuite), and the engine names its operations and flows (flows.ts). A
 * new FROST-based family is one suite (src/protocols/frost/suite.ts) and one line here.
 */
export type Engine = 'frost' | 'dkls23';

export type FamilyEntry = { engine: 'frost'; suite: FrostSuite } | { engine: 'dkls23' };

export const FAMILIES: Readonly<Record<KeyFamily, FamilyEntry>> = {
  bip340: { engine: 'frost', suite: FROST_SUITES.bip340 },
  ed25519: { engine: 'frost', suite: FROST_SUITES.ed25519 },
  ecdsa: { engine: 'dkls23' },
};

/** The operation names of each engine's ceremonies (the wire's `op.type`). */
export const ENGINE_OPERATIONS = {
  frost: { keygen: OP.frostKeygen, sign: OP.frostSign },
  dkls23: { keygen: OP.dklsKeygen, sign: OP.dklsSign },
} as const satisfies Record<Engine, { keygen: string; sign: string }>;

export function familyEntry(family: string): FamilyEntry {
  if (!Object.hasOwn(FAMILIES, family)) throw new TandemError('bad_request_params', `unknown key family ${family}`);
  return FAMILIES[family as KeyFamily];
}

/** A FROST family's ciphersuite; bad_request_params for anything else. */
export function frostSuite(family: string): FrostSuite {
  const entry = familyEntry(family);
  if (entry.engine !== 'frost') throw new TandemError('bad_request_params', `unknown key family ${family}`);
  return entry.suite;
}

/** The FROST families (each gets its own HTTP routes). */
export const frostFamilies = (): KeyFamily[] => (Object.keys(FAMILIES) as KeyFamily[]).filter((f) => FAMILIES[f].engine === 'frost');

/** The engine whose ceremony `type` is, if any. */
export function engineOfOperation(type: string): Engine | undefined {
  for (const engine of Object.keys(ENGINE_OPERATIONS) as Engine[]) {
    if (Object.values(ENGINE_OPERATIONS[engine]).includes(type as never)) return engine;
  }
  return undefined;
}

/**
 * The family an operation belongs to: the one it names (FROST), or its engine's only family
 * (a DKLs23 operation names none on the wire: it is ecdsa's); 'none' for other operations.
 */
export function familyOfOperation(op: { type: string; family?: unknown }): string {
  if (typeof op.family === 'string') return op.family;
  const engine = engineOfOperation(op.type);
  const families = (Object.keys(FAMILIES) as KeyFamily[]).filter((f) => FAMILIES[f].engine === engine);
  return families.length === 1 ? families[0]! : 'none';
}
