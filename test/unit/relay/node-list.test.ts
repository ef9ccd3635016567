import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseRelayNodes, readRelayNodes } from '../../../src/relay/node-list.js';

/** The relay's root of trust: who may join as which node. A bad file stops the relay. */
const KEY = 'ab'.repeat(32);

describe('parseRelayNodes', () => {
  test('the launchers\' cluster.json (other fields ignored) or a bare list', () => {
    const nodes = parseRelayNodes({ relays: ['r:7000'], nodes: [{ id: 'node-1', public_key: 'cd'.repeat(32), signing_key: KEY }, { id: 'node_2', signing_key: KEY.toUpperCase() }] }, 'f');
    assert.deepEqual(nodes, [
      { id: 'node-1', signingKey: new Uint8Array(32).fill(0xab) },
      { id: 'node_2', signingKey: new Uint8Array(32).fill(0xab) },
    ]);
    assert.deepEqual(parseRelayNodes([{ id: 'n', signing_key: KEY }], 'f').map((n) => n.id), ['n']);
  });

  test('no list, an empty list, or something else is refused, naming the file', () => {
    const message = 'relay nodes file /etc/nodes.json: expected a non-empty "nodes" array';
    for (const v of [null, 7, 'nodes', {}, { nodes: {} }, { nodes: [] }, []]) assert.throws(() => parseRelayNodes(v, '/etc/nodes.json'), { message }, JSON.stringify(v));
  });

  test('an entry without a valid id is refused with its index', () => {
    for (const e of [null, 'node-1', {}, { id: 7, signing_key: KEY }, { id: '', signing_key: KEY }, { id: 'a b', signing_key: KEY }, { id: 'x'.repeat(65), signing_key: KEY }]) {
      assert.throws(() => parseRelayNodes([{ id: 'ok', signing_key: KEY }, e], 'f'), { message: 'relay nodes file f: entry 1 has no valid "id"' }, JSON.stringify(e));
    }
  });

  test('a node without a 64-hex signing_key is refused, saying where to find it', () => {
    for (const k of [undefined, '', KEY.slice(2), `${KEY}00`, 'zz'.repeat(32), 12]) {
      assert.throws(
        () => parseRelayNodes({ nodes: [{ id: 'node-1', public_key: KEY, signing_key: k }] }, 'f'),
        { message: 'relay nodes file f: node node-1 has no "signing_key" (64 hex characters: its GET /identity signing_public_key)' },
        String(k),
      );
    }
  });
});

describe('readRelayNodes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-node-list-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('reads a nodes file', async () => {
    const file = join(dir, 'cluster.json');
    await writeFile(file, JSON.stringify({ nodes: [{ id: 'node-1', signing_key: KEY }] }));
    assert.deepEqual((await readRelayNodes(file)).map((n) => n.id), ['node-1']);
  });

  test('a missing or unreadable file, or one that is not JSON, is an error naming it', async () => {
    const missing = join(dir, 'missing.json');
    await assert.rejects(readRelayNodes(missing), (e: Error) => e.message.startsWith(`relay nodes file ${missing}: ENOENT`));
    const text = join(dir, 'text.json');
    await writeFile(text, 'nodes: node-1');
    await assert.rejects(readRelayNodes(text), { message: `relay nodes file ${text}: not JSON` });
    const empty = join(dir, 'empty.json');
    await writeFile(empty, '{"nodes": []}');
    await assert.rejects(readRelayNodes(empty), { message: `relay nodes file ${empty}: expected a non-empty "nodes" array` });
  });
});
