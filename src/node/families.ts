import { bip340Suite, ed25519Suite, type FrostSuite } from '../protocols/frost/suite.js';
import { TandemError } from '../shared/errors.js';

/** Key families whose ceremonies are FROST, with the suite each uses. */
export type FrostFamily = 'bip340' | 'ed25519';
export const FROST_SUITES: Readonly<Record<FrostFamily, FrostSuite>> = { bip340: bip340Suite, ed25519: ed25519Suite };

export function frostSuite(family: string): FrostSuite {
  const suite = FROST_SUITES[family as FrostFamily];
  if (!suite) throw new TandemError('bad_request_params', `unknown key family ${family}`);
  return suite;
}
