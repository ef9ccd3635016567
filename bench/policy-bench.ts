import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call } from './http.js';

/**
 * What a webhook rule costs: a real Rule Server process (scripts/rule-server.ts) that
 * verifies each node's request signature and signs its answers, bound to one key on
 * every node for the duration of `run`, then unbound.
 */
const RULE_SERVER = join(dirname(fileURLToPath(import.meta.url)), '../scripts/rule-server.js');

export async function withWebhookRule<T>(dataDir: string, urls: readonly string[], adminKey: string, keyId: string, run: () => Promise<T>): Promise<T> {
  const identities = await Promise.all(urls.map((u) => call<{ node_id: string; signing_public_key: string }>('GET', `${u}/identity`, undefined)));
  const nodesFile = join(dataDir, 'bench-rule-nodes.json');
  await writeFile(nodesFile, JSON.stringify(identities.map((i) => ({ id: i.node_id, public_key: i.signing_public_key }))));
  const child = spawn(process.execPath, [RULE_SERVER, '--port', '0', '--key', join(dataDir, 'bench-rule.key'), '--nodes', nodesFile], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const { url, publicKey } = await new Promise<{ url: string; publicKey: string }>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('rule server did not start')), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const u = /listening on (http:\/\/\S+)/.exec(out)?.[1];
        const k = /public key: ([0-9a-f]{64})/.exec(out)?.[1];
        if (u && k) {
          clearTimeout(timer);
          child.stdout!.resume();
          resolve({ url: u, publicKey: k });
        }
      });
      child.once('exit', (code) => reject(new Error(`rule server exited ${code}`)));
    });
    const tag = randomBytes(4).toString('hex');
    for (const node of urls) {
      const { rule_id } = await call<{ rule_id: string }>('POST', `${node}/admin/create-rule`, adminKey, { name: `bench-${tag}`, type: 'webhook', url, public_key: publicKey });
      const { policy_id } = await call<{ policy_id: string }>('POST', `${node}/admin/create-policy`, adminKey, { name: `bench-${tag}` });
      await call('POST', `${node}/admin/add-rule-to-policy`, adminKey, { policy_id, rule_id });
      await call('POST', `${node}/admin/set-key-policy`, adminKey, { key_id: keyId, policy_id });
    }
    try {
      return await run();
    } finally {
      for (const node of urls) await call('POST', `${node}/admin/set-key-policy`, adminKey, { key_id: keyId, policy_id: null });
    }
  } finally {
    child.kill();
  }
}
