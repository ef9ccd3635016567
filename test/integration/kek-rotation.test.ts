import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startCluster, waitHealthy, type Cluster } from '../../src/cluster/processes.js';
import { secretsDirOf } from '../../src/cluster/secrets.js';
import { loadKek } from '../../src/crypto/share-seal.js';
import { nodeSharesColumn } from '../../src/node/sealed-shares.js';
import { openNodeStore } from '../../src/storage/open-node-store.js';
import { sealedCensus } from '../../src/db/reseal.js';
import { ADMIN_KEY, dropSchemas, TEST_POSTGRES_URL } from '../helpers/cluster.js';
import { cleanEnv, makeKeys, NODE_MAIN, nodeCensus, pinPort, ROTATE, run, signBoth, tempDataDir, until, type Proc } from '../helpers/kek-cluster.js';

/**
 * A node's KEK rotated while the cluster signs, on each storage backend (issue 12, finding 7).
 * The two keys are FROST keys (bip340, ed25519): a node seals the share of every key alike, one
 * record each in `keys` (nodeSharesColumn), so an ECDSA key here would test the same re-seal for
 * seconds of DKLs23 key generation; DKLs23 records re-sealed from an earlier KEK are in
 * kek-launcher.test.ts (the cluster that ran with one KEK for every node).
 * Shared set-up: test/helpers/kek-cluster.ts.
 */
describe('rotating a node KEK while the cluster signs', { timeout: 400_000 }, () => {
  let cluster: Cluster | undefined;
  const procs: Proc[] = [];
  after(async () => {
    for (const p of procs) await p.stop();
    await cluster?.stop();
  });

  for (const backend of ['embedded', 'postgres'] as const) {
    test(`${backend}: restart with the new KEK and the old one as previous, re-seal (${backend === 'embedded' ? 'by the node itself' : 'npm run rotate-kek beside the running node'}), sign before, during and after`, async () => {
      const dataDir = await tempDataDir(backend === 'embedded');
      const prefix = `kek_${randomBytes(4).toString('hex')}`;
      const db = backend === 'postgres' ? { TANDEM_DATABASE_URL: TEST_POSTGRES_URL, TANDEM_DATABASE_SCHEMA_PREFIX: prefix } : {};
      const env = cleanEnv({ TANDEM_ADMIN_KEY: ADMIN_KEY, ...db });
      try {
        cluster = await startCluster({ dataDir, basePort: 0, nodes: 3, env, output: () => {} });
        const keys = await makeKeys(cluster.nodes[0]!.url, ADMIN_KEY, 'ed25519');
        const url = cluster.nodes[0]!.url;
        // node-1 is started by hand below, and npm run rotate-kek checks whether it answers, both from its file.
        await pinPort(dataDir, 'node-1', cluster.nodes[0]!.port);
        await signBoth(url, keys);

        // Node-1 moves to a new KEK; the old one stays as previous until everything is re-sealed.
        const oldFile = join(secretsDirOf(dataDir), 'node-1.kek');
        const newFile = join(secretsDirOf(dataDir), 'node-1.new.kek');
        await writeFile(newFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
        const oldId = (await loadKek({ keyFile: oldFile })).currentId;
        const newId = (await loadKek({ keyFile: newFile })).currentId;
        await cluster.nodes[0]!.stop();
        const census = async (): Promise<Record<string, number>> => {
          if (backend === 'embedded') return nodeCensus(dataDir, 'node-1');
          const store = await openNodeStore({ kind: 'postgres', url: TEST_POSTGRES_URL, schema: `${prefix}_node_1` });
          try {
            return Object.fromEntries(await sealedCensus(store.client, nodeSharesColumn('node-1')));
          } finally {
            await store.close();
          }
        };
        assert.deepEqual(await census(), { [oldId]: 2 });

        const nodeEnv = (kek: NodeJS.ProcessEnv) => ({ ...env, ...kek });
        const config = ['--config', join(dataDir, 'node-1.json')];
        const both = { TANDEM_KEK_FILE: newFile, TANDEM_KEK_PREVIOUS_FILE: oldFile };
        let node1: Proc;
        if (backend === 'embedded') {
          // The node re-seals by itself when it starts with a previous KEK, and signs meanwhile.
          node1 = run(NODE_MAIN, config, nodeEnv(both));
          procs.push(node1);
          await until('the node re-sealing its shares', () => /KEK rotation: re-sealed 2 records under KEK [0-9a-f]{16}; none is left/.test(node1.output()));
          await signBoth(url, keys);
          const busy = run(ROTATE, config, nodeEnv(both));
          assert.equal(await busy.exited, 1);
          assert.match(busy.output(), /node-1 is running .* its database is embedded: stop it first/);
        } else {
          // npm run rotate-kek on the stopped node's schema, while the other two nodes sign.
          const check = run(ROTATE, [...config, '--check'], nodeEnv(both));
          assert.equal(await check.exited, 2, check.output());
          const tool = run(ROTATE, config, nodeEnv(both));
          await signBoth(cluster.nodes[1]!.url, keys);
          assert.equal(await tool.exited, 0, tool.output());
          assert.match(tool.output(), new RegExp(`node-1: re-sealed 2; records per KEK now: ${newId}: 2`));
          node1 = run(NODE_MAIN, config, nodeEnv(both));
          procs.push(node1);
        }
        await waitHealthy(url, 60_000);
        await signBoth(url, keys);
        assert.deepEqual(await census(), { [newId]: 2 }, 'every record of node-1 carries the new KEK id');
        await node1.stop();

        // The old KEK is no longer needed: node-1 starts with the new one alone and signs.
        const after = run(NODE_MAIN, config, nodeEnv({ TANDEM_KEK_FILE: newFile }));
        procs.push(after);
        await waitHealthy(url, 60_000);
        await signBoth(url, keys);
        assert.match(after.output(), new RegExp(`sealing under KEK ${newId}; shares per KEK: ${newId} 2`));
        await after.stop();

        // And with only the old KEK it refuses to start, naming the KEK its shares need.
        const wrong = run(NODE_MAIN, config, nodeEnv({ TANDEM_KEK_FILE: oldFile }));
        assert.equal(await wrong.exited, 1);
        assert.match(wrong.output(), new RegExp(`sealed records are under KEK ${newId}, which TANDEM_KEK does not give \\(it gives ${oldId}`));
      } finally {
        for (const p of procs.splice(0)) await p.stop();
        await cluster?.stop();
        cluster = undefined;
        if (backend === 'postgres') await dropSchemas(`${prefix}_`);
      }
    });
  }
});
