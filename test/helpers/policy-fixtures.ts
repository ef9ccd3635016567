import type { KeyId, PartyId, UserId } from '../../src/core/ids.js';
import type { RuleDefinition, RuleRecord } from '../../src/policy/types.js';
import type { KeyRecord } from '../../src/storage/store.js';

/** A key as the policy gate sees it (key-1 of user-1, 2-of-2 with node-a and node-b, bip340); no share behind it. */
export function keyRecord(fields: Partial<KeyRecord> = {}): KeyRecord {
  return {
    keyId: 'key-1' as KeyId,
    family: 'bip340',
    ownerUserId: 'user-1' as UserId,
    publicKey: new Uint8Array(32).fill(2),
    threshold: 2,
    parties: ['node-a', 'node-b'] as PartyId[],
    publicPackage: {},
    shareCiphertext: new Uint8Array(0),
    createdAt: new Date(0),
    ...fields,
  };
}

/** A stored rule named `name` (its id `rule-<name>`). */
export const ruleRecord = (name: string, definition: RuleDefinition): RuleRecord => ({ ruleId: `rule-${name}`, name, definition, createdAt: new Date(0) });
