import Type from 'typebox';
import { RULE_BODY_SCHEMAS, RULE_TYPES } from '../policy/rules/index.js';
import { NAME_MAX_CHARS } from '../policy/rules/kind.js';
import { PRINTABLE_TEXT_PATTERN } from '../core/text.js';
import { TextId } from './schemas.js';

/** Schemas of the admin policy and audit endpoints (admin-routes.ts); they also make the OpenAPI document. */

const RuleId = TextId('A rule id (returned by create-rule).');
const PolicyId = TextId('A policy id (returned by create-policy).');
const UserId = TextId('A user id (returned by create-user).');
const KeyId = TextId('A key id (returned by keygen).');
const Timestamp = Type.String({ description: 'ISO 8601 UTC.' });
/** Query strings arrive as text and the node's validator doesn't coerce types. */
const Count = (description: string) => Type.String({ pattern: '^[0-9]{1,15}$', description });

export const Name = Type.String({
  minLength: 1,
  maxLength: NAME_MAX_CHARS,
  pattern: PRINTABLE_TEXT_PATTERN,
  description: `Unique on this node; 1..${NAME_MAX_CHARS} characters, no control characters.`,
});

/**
 * One of the rule kinds (src/policy/rules/, one file each): name, type and that kind's
 * fields. The node validates it with the kinds' own compiled schemas and checks
 * (parseRuleDefinition), which is also what makes the refusals name the field.
 */
export const CreateRuleBody = Type.Union(RULE_BODY_SCHEMAS, {
  description: 'A rule: name, type, and the fields of its type (one schema per type below); unknown fields are refused.',
});

export const RuleDefinitionBody = Type.Object(
  { type: Type.String({ enum: [...RULE_TYPES] }) },
  { additionalProperties: true, description: 'The validated, normalised definition (defaults filled in), as create-rule accepts it minus name (see its schema per type).' },
);

export const RuleResponse = Type.Object({
  rule_id: Type.String(),
  name: Type.String(),
  definition: RuleDefinitionBody,
  created_at: Timestamp,
});

export const RuleListResponse = Type.Object({ rules: Type.Array(RuleResponse) });
export const RuleIdResponse = Type.Object({ rule_id: Type.String() });
export const RuleIdBody = Type.Object({ rule_id: RuleId });
export const RuleIdParams = Type.Object({ rule_id: RuleId });

export const CreatePolicyBody = Type.Object({ name: Name });
export const PolicyIdResponse = Type.Object({ policy_id: Type.String() });
export const PolicyIdBody = Type.Object({ policy_id: PolicyId });
export const PolicyIdParams = Type.Object({ policy_id: PolicyId });

export const PolicyRuleBody = Type.Object({ policy_id: PolicyId, rule_id: RuleId });
export const PolicyRulesResponse = Type.Object({
  policy_id: Type.String(),
  rule_ids: Type.Array(Type.String(), { description: 'The policy\'s rules in evaluation order.' }),
});

export const PolicySummary = Type.Object({
  policy_id: Type.String(),
  name: Type.String(),
  rule_ids: Type.Array(Type.String(), { description: 'In evaluation order.' }),
  created_at: Timestamp,
});
export const PolicyListResponse = Type.Object({ policies: Type.Array(PolicySummary) });
export const PolicyResponse = Type.Object({
  policy_id: Type.String(),
  name: Type.String(),
  rule_ids: Type.Array(Type.String(), { description: 'In evaluation order.' }),
  rules: Type.Array(RuleResponse, { description: 'The same rules, in the same order.' }),
  user_ids: Type.Array(Type.String(), { description: 'Users bound to this policy.' }),
  key_ids: Type.Array(Type.String(), { description: 'Keys bound to this policy.' }),
  created_at: Timestamp,
});

const NullablePolicyId = Type.Union([PolicyId, Type.Null()], { description: 'The policy to bind, or null to unbind.' });
export const SetUserPolicyBody = Type.Object({ user_id: UserId, policy_id: NullablePolicyId });
export const SetUserPolicyResponse = Type.Object({ user_id: Type.String(), policy_id: Type.Union([Type.String(), Type.Null()]) });
export const SetKeyPolicyBody = Type.Object({ key_id: KeyId, policy_id: NullablePolicyId });
export const SetKeyPolicyResponse = Type.Object({ key_id: Type.String(), policy_id: Type.Union([Type.String(), Type.Null()]) });

export const UserIdBody = Type.Object({ user_id: UserId });
export const UserIdParams = Type.Object({ user_id: UserId });
export const UserIdResponse = Type.Object({ user_id: Type.String() });
export const KeyIdParams = Type.Object({ key_id: KeyId });

const UserSummaryBody = Type.Object({
  user_id: Type.String(),
  policy_id: Type.Union([Type.String(), Type.Null()], { description: 'The policy the user is bound to, or null.' }),
  key_count: Type.Integer({ description: 'Keys the user owns on this node.' }),
  created_at: Timestamp,
});
export const UserListQuery = Type.Object({
  // Empty means from the first user, as before; anything else is held to the id format.
  after: Type.Optional(Type.String({ maxLength: 64, pattern: PRINTABLE_TEXT_PATTERN, description: 'Page after this user id (the previous page\'s next_after).' })),
  limit: Type.Optional(Count('Page size, 1..1000 (default 100).')),
});
export const UserListResponse = Type.Object({
  users: Type.Array(UserSummaryBody),
  next_after: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `after` for the next page; null on the last page.' }),
});

const KeySummaryBody = Type.Object({
  key_id: Type.String(),
  family: Type.String(),
  owner_user_id: Type.String(),
  policy_id: Type.Union([Type.String(), Type.Null()], { description: 'The policy the key is bound to, or null.' }),
  created_at: Timestamp,
});
export const KeyResponse = KeySummaryBody;
export const UserResponse = Type.Object({
  user_id: Type.String(),
  policy_id: Type.Union([Type.String(), Type.Null()]),
  policy_name: Type.Union([Type.String(), Type.Null()]),
  key_count: Type.Integer(),
  keys: Type.Array(KeySummaryBody, { description: 'The keys the user owns on this node.' }),
  created_at: Timestamp,
});

export const AuditQuery = Type.Object({
  after_seq: Type.Optional(Count('Entries after this seq (default 0: from the first).')),
  limit: Type.Optional(Count('Page size, 1..1000 (default 100).')),
});

const AuditEntryBody = Type.Object({
  seq: Type.Integer(),
  ts: Timestamp,
  request_id: Type.String(),
  actor: Type.String({ description: 'A user id, or "admin".' }),
  operation: Type.String(),
  key_id: Type.Union([Type.String(), Type.Null()]),
  rule_id: Type.Union([Type.String(), Type.Null()], { description: 'The rule that decided, for a refusal.' }),
  result: Type.String({ enum: ['ok', 'refused', 'failed'] }),
  detail: Type.Unknown({ description: 'JSON object or null.' }),
  prev_hash: Type.String(),
  hash: Type.String({ description: 'SHA-256 (hex) of the canonical JSON of the other fields (see the README).' }),
});
export const AuditListResponse = Type.Object({
  entries: Type.Array(AuditEntryBody),
  next_after_seq: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as after_seq for the next page; null on the last page.' }),
});

export const AuditVerifyQuery = Type.Object({
  anchor_seq: Type.Optional(Count('With anchor_hash: a seq whose hash was recorded earlier (detects entries cut off the end).')),
  anchor_hash: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
});
export const AuditVerifyResponse = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Optional(Type.Integer({ description: 'When ok: how many entries the chain has.' })),
  head: Type.Optional(Type.String({ description: 'When ok: the last entry\'s hash; record it elsewhere to detect later truncation.' })),
  first_bad_seq: Type.Optional(Type.Integer({ description: 'When not ok: the first entry that fails.' })),
  reason: Type.Optional(Type.String()),
});
