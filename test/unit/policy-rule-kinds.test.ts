import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ethers } from 'ethers';
import type { FastifyInstance } from 'fastify';
import type { NodeContext } from '../../src/node/ceremonies/context.js';
import { buildApp } from '../../src/node/http/app.js';
import { RULE_KINDS, type RuleType } from '../../src/policy/rules/index.js';
import type { RuleDefinition } from '../../src/policy/types.js';
import { generateSigningKey } from '../../src/policy/node-signing-key.js';

/**
 * Issue 13: every rule kind through `POST /admin/create-rule` (the node's own route and
 * validator, in this process): a valid body is stored normalised, every field it has is
 * refused when broken with 400 bad_request_params whose message names the field, and the
 * OpenAPI document the node serves shows every kind with all its fields.
 */

const ABSENT = Symbol('absent');
type Broken = [field: string, value: unknown, names?: RegExp];

interface KindCase {
  /** A valid body (without name). */
  valid: Record<string, unknown>;
  /** What it is stored as. */
  stored: RuleDefinition;
  /** Other valid bodies (nulls for absent, bounds). */
  alsoValid: Array<Record<string, unknown>>;
  /** Each field broken in turn (ABSENT: left out); the message must name the field. */
  broken: Broken[];
}

const pk = generateSigningKey('rule-server').publicKeyHex;
const checksummed = ethers.getAddress('0x' + 'ab'.repeat(20));
const badChecksum = checksummed.slice(0, 3) + (checksummed[3] === 'a' ? 'A' : 'a') + checksummed.slice(4);
const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));

// A Record over RuleType: a kind added to the registry without its cases does not compile.
const CASES: Record<RuleType, KindCase> = {
  webhook: {
    valid: { type: 'webhook', url: 'https://rules.example/check', public_key: pk.toUpperCase() },
    stored: { type: 'webhook', url: 'https://rules.example/check', timeout_ms: 2000, public_key: pk },
    alsoValid: [
      { type: 'webhook', url: 'http://127.0.0.1:7100', timeout_ms: 50, public_key: null },
      { type: 'webhook', url: 'http://h/', timeout_ms: 30000 },
      { type: 'webhook', url: 'http://h/', timeout_ms: null },
    ],
    broken: [
      ['url', ABSENT],
      ['url', 5],
      ['url', ''],
      ['url', 'ftp://rules.example/'],
      ['url', 'not a url'],
      ['url', 'https://u:p@rules.example/'],
      ['url', 'https://rules.example/\u0001'],
      ['url', `https://rules.example/${'a'.repeat(2048)}`],
      ['timeout_ms', 49],
      ['timeout_ms', 30001],
      ['timeout_ms', 100.5],
      ['timeout_ms', '2000'],
      ['public_key', pk.slice(2)],
      ['public_key', `zz${pk.slice(2)}`],
      ['public_key', 'ff'.repeat(32)],
      ['public_key', '00'.repeat(32)],
      ['public_key', 7],
    ],
  },
  derivation_paths: {
    valid: { type: 'derivation_paths', allowed: ['m', 'm/0/*', 'm/44/60/0/0/*', 'm/0/*'] },
    stored: { type: 'derivation_paths', allowed: ['m', 'm/0/*', 'm/44/60/0/0/*'] },
    alsoValid: [{ type: 'derivation_paths', allowed: ['m/2147483647', `m${'/*'.repeat(255)}`] }, { type: 'derivation_paths', allowed: many(64, (i) => `m/${i}`) }],
    broken: [
      ['allowed', ABSENT],
      ['allowed', 'm/0/*'],
      ['allowed', []],
      ['allowed', many(65, (i) => `m/${i}`)],
      ...["m/0'", 'm/0h', 'x/0', '0/1', 'm//1', 'm/01', 'm/2147483648', 'm/-1', 'm/**', 'm/*/', '', `m${'/*'.repeat(256)}`, 5].map((p): Broken => ['allowed', [p]]),
    ],
  },
  message_length: {
    valid: { type: 'message_length', max_bytes: 32 },
    stored: { type: 'message_length', min_bytes: 0, max_bytes: 32 },
    alsoValid: [{ type: 'message_length', min_bytes: 32, max_bytes: 32 }, { type: 'message_length', min_bytes: null, max_bytes: 65536 }],
    broken: [
      ['max_bytes', ABSENT],
      ['max_bytes', 65537],
      ['max_bytes', -1],
      ['max_bytes', 1.5],
      ['max_bytes', '32'],
      ['min_bytes', -1],
      ['min_bytes', 33],
      ['min_bytes', 'a'],
    ],
  },
  message_prefix: {
    valid: { type: 'message_prefix', prefixes: ['AB', 'ab', '00ff'] },
    stored: { type: 'message_prefix', prefixes: ['ab', '00ff'] },
    alsoValid: [{ type: 'message_prefix', prefixes: ['ab'.repeat(256)] }, { type: 'message_prefix', prefixes: many(32, (i) => i.toString(16).padStart(2, '0')) }],
    broken: [
      ['prefixes', ABSENT],
      ['prefixes', 'ab'],
      ['prefixes', []],
      ['prefixes', many(33, (i) => i.toString(16).padStart(2, '0'))],
      ...['0xab', 'abc', '', 'zz', 12, 'ab'.repeat(257)].map((p): Broken => ['prefixes', [p]]),
    ],
  },
  rate_limit: {
    valid: { type: 'rate_limit', per: 'key', max: 10, window_seconds: 60 },
    stored: { type: 'rate_limit', per: 'key', max: 10, window_seconds: 60 },
    alsoValid: [{ type: 'rate_limit', per: 'user', max: 1_000_000, window_seconds: 31 * 86400 }],
    broken: [
      ['per', ABSENT],
      ['per', 'ip'],
      ['max', ABSENT],
      ['max', 0],
      ['max', 1_000_001],
      ['max', 1.5],
      ['max', '10'],
      ['window_seconds', ABSENT],
      ['window_seconds', 0],
      ['window_seconds', 31 * 86400 + 1],
    ],
  },
  time_window: {
    valid: { type: 'time_window', start_utc: '22:00', end_utc: '24:00', days: [5, 1, 5] },
    stored: { type: 'time_window', start_utc: '22:00', end_utc: '24:00', days: [1, 5] },
    alsoValid: [{ type: 'time_window', start_utc: '00:00', end_utc: '23:59', days: null }, { type: 'time_window', start_utc: '09:00', end_utc: '06:00' }],
    broken: [
      ['start_utc', ABSENT],
      ['start_utc', '24:00'],
      ['start_utc', '9:00'],
      ['start_utc', 900],
      ['end_utc', ABSENT],
      ['end_utc', '17:60'],
      ['end_utc', '25:00'],
      ['days', []],
      ['days', [7]],
      ['days', [-1]],
      ['days', [1.5]],
      ['days', 'monday'],
      ['days', many(8, () => 1)],
    ],
  },
  operations: {
    valid: { type: 'operations', allowed: ['sign', 'public-key', 'sign'] },
    stored: { type: 'operations', allowed: ['sign', 'public-key'] },
    alsoValid: [{ type: 'operations', allowed: ['keygen', 'sign', 'derive', 'public-key'] }],
    broken: [
      ['allowed', ABSENT],
      ['allowed', 'sign'],
      ['allowed', []],
      ['allowed', ['delete']],
      ['allowed', many(9, () => 'sign')],
    ],
  },
  eth_transaction: {
    valid: { type: 'eth_transaction', chain_ids: [1, 11155111, 1], recipients: [checksummed, '0x' + 'AB'.repeat(20)], max_value_wei: '1000000000000000000', max_value_wei_per_day: '0' },
    stored: { type: 'eth_transaction', chain_ids: [1, 11155111], recipients: ['0x' + 'ab'.repeat(20)], max_value_wei: '1000000000000000000', max_value_wei_per_day: '0' },
    alsoValid: [
      { type: 'eth_transaction' },
      { type: 'eth_transaction', chain_ids: null, recipients: null, max_value_wei: null, max_value_wei_per_day: null },
      { type: 'eth_transaction', max_value_wei: ((1n << 256n) - 1n).toString() },
    ],
    broken: [
      ['chain_ids', [0]],
      ['chain_ids', ['1']],
      ['chain_ids', []],
      ['chain_ids', 1],
      ['chain_ids', many(65, (i) => i + 1)],
      ['recipients', ['ab'.repeat(20)]],
      ['recipients', ['0x' + 'ab'.repeat(19)]],
      ['recipients', [badChecksum]],
      ['recipients', []],
      ...['01', '-1', '1.5', '1e18', '', 1000, (1n << 256n).toString()].flatMap((v): Broken[] => [
        ['max_value_wei', v, /max_value_wei\b/],
        ['max_value_wei_per_day', v],
      ]),
    ],
  },
};

describe('rule kinds through POST /admin/create-rule', () => {
  let app: FastifyInstance;
  const created: Array<{ name: string; definition: RuleDefinition }> = [];
  const audited: Array<{ result: string; detail: Record<string, unknown> }> = [];

  before(async () => {
    const ctx = {
      self: 'node-1',
      store: {},
      network: { connected: true, peerIds: [] },
      stepTimeoutMs: 1000,
      policies: {
        async createRule(name: string, definition: RuleDefinition) {
          created.push({ name, definition });
          return { ruleId: `rule-${created.length}`, name, definition, createdAt: new Date() };
        },
      },
      audit: {
        async append(e: { result: string; detail: Record<string, unknown> }) {
          audited.push(e);
          return {};
        },
      },
      callers: {
        async admin(credential: string | undefined) {
          if (credential !== 'admin') throw new Error('not the admin');
        },
      },
      log: () => undefined,
    } as unknown as NodeContext;
    app = await buildApp(ctx, { version: 'test', maxBatch: 4 });
  });
  after(() => app?.close());

  const createRule = async (body: unknown) => {
    const res = await app.inject({ method: 'POST', url: '/admin/create-rule', headers: { authorization: 'Bearer admin', 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  const refused = async (body: unknown, names: RegExp) => {
    const r = await createRule(body);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 200)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.err_type, 'bad_request_params', JSON.stringify(r.body));
    assert.match(String(r.body.err_msg), names, `${JSON.stringify(body).slice(0, 200)}: the message names the field`);
  };

  test('every kind of the registry has its cases here, and no other', () => {
    assert.deepEqual(Object.keys(CASES).sort(), RULE_KINDS.map((k) => k.type).sort());
  });

  for (const kind of RULE_KINDS) {
    const c = CASES[kind.type];

    test(`${kind.type}: a valid rule is stored normalised, and parses again to itself`, async () => {
      const r = await createRule({ name: `${kind.type}-ok`, ...c.valid });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(created.at(-1), { name: `${kind.type}-ok`, definition: c.stored });
      const again = await createRule({ name: `${kind.type}-again`, ...c.stored });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.deepEqual(created.at(-1)?.definition, c.stored);
      for (const [i, body] of c.alsoValid.entries()) {
        const other = await createRule({ name: `${kind.type}-also-${i}`, ...body });
        assert.equal(other.status, 200, `${JSON.stringify(body).slice(0, 200)}: ${JSON.stringify(other.body)}`);
      }
    });

    test(`${kind.type}: each broken field is bad_request_params naming the field`, async () => {
      // The cases break every field the kind has.
      assert.deepEqual([...new Set(c.broken.map(([f]) => f))].sort(), Object.keys(kind.schema.properties).filter((f) => f !== 'name' && f !== 'type').sort());
      for (const [field, value, names] of c.broken) {
        const body: Record<string, unknown> = { name: `${kind.type}-bad`, ...c.valid };
        if (value === ABSENT) delete body[field];
        else body[field] = value;
        await refused(body, names ?? new RegExp(`\\b${field}\\b`));
      }
      await refused({ name: 'x', ...c.valid, extra: 1 }, new RegExp(`unknown field "extra" for a ${kind.type} rule`));
      await refused({ name: 'x', ...c.valid, [`${Object.keys(c.stored)[1] ?? 'field'}s`]: 1 }, /unknown field/);
    });

    test(`${kind.type}: name is checked as for every kind`, async () => {
      for (const name of ['', 'x'.repeat(129), 'a\nb', 'a\u0000', 5, null, ABSENT]) {
        const body: Record<string, unknown> = { name, ...c.valid };
        if (name === ABSENT) delete body.name;
        await refused(body, /\bname\b/);
      }
    });
  }

  test('not a rule at all: not an object, no or an unknown type', async () => {
    for (const body of [null, [], 'webhook', 5]) await refused(body, /the rule must be a JSON object/);
    await refused({ name: 'r' }, /type must be one of webhook, derivation_paths/);
    await refused({ name: 'r', type: 'lambda' }, /type must be one of/);
    await refused({ name: 'r', type: 'webhook ' }, /type must be one of/);
  });

  test('a refused rule is in the audit log; a body the log could not hold is refused before', async () => {
    audited.length = 0;
    await refused({ name: 'audited-bad', type: 'rate_limit', per: 'user', max: 0, window_seconds: 60 }, /max/);
    assert.deepEqual(audited.map((e) => [e.result, e.detail.name, e.detail.err_type]), [['refused', 'audited-bad', 'bad_request_params']]);
    await refused({ name: 'nul\u0000', type: 'rate_limit', per: 'user', max: 0, window_seconds: 60 }, /name/);
    await refused({ name: 'x', type: 'no_such_kind' }, /type/);
    assert.equal(audited.length, 1, 'neither is audited (as when the route schema refused them)');
  });

  test('the OpenAPI document the node serves shows every kind with all its fields', async () => {
    // The kinds: the registry's, and the README's "Rule kinds" table (so neither can lose one).
    const readme = await readFile(join(import.meta.dirname, '../../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('### Rule kinds'), readme.indexOf('\n### ', readme.indexOf('### Rule kinds') + 1));
    const documented = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
    assert.deepEqual([...documented].sort(), RULE_KINDS.map((k) => k.type).sort(), 'the README lists exactly the registry\'s kinds');

    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { anyOf?: unknown[] } }> } }>> };
    const schema = doc.paths['/admin/create-rule']?.post?.requestBody?.content['application/json']?.schema;
    assert.ok(schema?.anyOf, 'create-rule\'s body is a union of the kinds');
    const branches = schema.anyOf as Array<{ properties: Record<string, { description?: string; enum?: unknown[]; const?: unknown }>; required: string[]; additionalProperties: unknown; description?: string }>;
    const typeOf = (b: (typeof branches)[number]) => b.properties.type?.const ?? b.properties.type?.enum?.[0];
    for (const type of new Set([...documented, ...RULE_KINDS.map((k) => k.type)])) {
      const kind = RULE_KINDS.find((k) => k.type === type);
      assert.ok(kind, `${type} is in the registry`);
      const branch = branches.find((b) => typeOf(b) === type);
      assert.ok(branch, `the OpenAPI document shows the ${type} kind`);
      assert.equal(branch.additionalProperties, false, `${type}: unknown fields are refused, and the document says so`);
      assert.ok(branch.description, `${type} is described`);
      assert.deepEqual(Object.keys(branch.properties).sort(), Object.keys(kind.schema.properties).sort(), `${type}: every field is in the document`);
      for (const [field, s] of Object.entries(branch.properties)) if (field !== 'type') assert.ok(s.description, `${type}.${field} is described`);
      assert.deepEqual([...branch.required].sort(), [...kind.schema.required].sort(), `${type}: the required fields`);
    }
    assert.equal(branches.length, RULE_KINDS.length, 'no other schema in the union');
  });
});
