import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { configFrom } from '../../src/node/config.js';
import { INBOX_ROOM } from '../../src/node/peer-network.js';
import { startSignerNode, type RunningNode } from '../../src/node/signer-node.js';
import { RelayPool } from '../../src/relay/pool.js';
import { startRelay } from '../../src/relay/server.js';
import { toHex } from '../../src/core/hex.js';
import { asPartyId } from '../../src/core/ids.js';
import { nodeRelayKeys } from '../helpers/relay-auth.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * Issue 12, finding 11: a party joined to the relay's inbox room as node-2 floods another node
 * with invitations that fail authentication. Each costs an X25519 agreement, and 0.1.0 logged a
 * line for each: 131,400 in 20 s gave 94,000 log lines and a node that fell behind by 30 s. Now
 * a sender gets at most a burst and then a steady rate of invitations looked at, the rest
 * dropped before any cryptography, and the log holds a few lines per kind and window with a
 * count of the rest. In 0.1.0 anyone could join as node-2; relays now admit only node-2's key
 * (test/integration/relay-admission.test.ts), so the flooder here is a compromised node-2, with
 * the relay's own per-sender quotas lifted so that every forged invitation reaches node-1.
 */
const FLOOD = 20_000;

async function poll(cond: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('an invitation flood from a squatter on the relay', { timeout: 120_000 }, () => {
  let root: string;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let node: RunningNode;
  let relayKeys: Awaited<ReturnType<typeof nodeRelayKeys>>;
  const logs: string[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-flood-'));
    const ids = ['node-1', 'node-2', 'node-3'].map(asPartyId);
    relayKeys = await nodeRelayKeys(root, ids);
    const unlimited = { messagesPerSecond: 1e9, messageBurst: 1e9, bytesPerSecond: 1e12, byteBurst: 1e12 };
    relay = await startRelay({ port: 0, nodes: relayKeys.nodes, sendQuotas: { node: unlimited, client: unlimited } });
    const identities = await Promise.all(ids.map((id) => loadOrCreateIdentity(id, join(root, id, 'identity.key'))));
    const peers = identities.map((i) => ({ id: i.partyId, public_key: toHex(i.publicKey) }));
    const config = configFrom({ id: 'node-1', port: 0, relay: `127.0.0.1:${relay.port}`, data_dir: root, peers }, { TANDEM_ADMIN_KEY: `tdm_admin_${randomBytes(32).toString('base64url')}`, TANDEM_DEV_KEK_IN_DATA_DIR: '1' });
    await seedPglite(join(root, 'node-1', 'db'));
    node = await startSignerNode(config, (m) => logs.push(m));
    await poll(async () => (await fetch(`${node.url}/health`)).status === 200, 'node-1 ready', 10_000);
  });

  after(async () => {
    await node?.close();
    await relay?.close();
    await rm(root, { recursive: true, force: true });
  });

  const dropped = async () => {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(/^tandem_peer_messages_dropped_total\{[^}]*reason="([a-z-]+)"[^}]*\} (\d+)$/gm)) counts[m[1]!] = Number(m[2]);
    return counts;
  };

  test(`${FLOOD} forged invitations as node-2: a bounded number are authenticated, the log stays short, the node answers`, async () => {
    const pool = new RelayPool({ signer: relayKeys.signer('node-2') });
    try {
      const squatter = await pool.get(`127.0.0.1:${relay.port}`);
      await squatter.join(INBOX_ROOM, 'node-2', () => {});
      const linesBefore = logs.length;
      const t0 = Date.now();
      for (let i = 0; i < FLOOD; i++) {
        const id = Buffer.from(randomUUID());
        // Framed like an invitation, with a channel envelope of the right version: only authentication refuses it.
        squatter.send(INBOX_ROOM, 'node-2', 'node-1', Buffer.concat([Buffer.of(id.length), id, Buffer.of(2), randomBytes(200)]));
        if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
      }
      let counts: Record<string, number> = {};
      await poll(async () => {
        counts = await dropped();
        return Object.values(counts).reduce((a, b) => a + b, 0) >= FLOOD;
      }, 'every forged invitation dropped', 60_000);
      const seconds = (Date.now() - t0) / 1000;
      // Looked at (and refused by the channel): at most the burst plus the steady rate.
      assert.ok(counts.unauthentic! <= 1000 + 200 * seconds + 50, `${counts.unauthentic} authenticated in ${seconds} s`);
      assert.ok(counts.rate! >= FLOOD - (1000 + 200 * seconds + 50), JSON.stringify(counts));
      assert.equal(counts.unauthentic! + counts.rate!, FLOOD);
      // A few lines per kind, not one per message.
      const inbox = logs.slice(linesBefore).filter((l) => l.startsWith('inbox:'));
      assert.ok(inbox.length <= 20, `${inbox.length} inbox log lines:\n${inbox.slice(0, 5).join('\n')}`);
      assert.equal((await fetch(`${node.url}/health`)).status, 200);
    } finally {
      await pool.closeAll();
    }
  });
});
