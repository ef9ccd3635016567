import { FROST_SUITES, type FrostFamily, type FrostSuite } from '../protocols/frost/suite.js';
import { TandemError } from '../shared/errors.js';

export function frostSuite(family: string): FrostSuite {
  const suite = FROST_SUITES[family as FrostFamily];
  if (!suite) throw new TandemError('bad_request_params', `unknown key family ${family}`);
  return suite;
}
