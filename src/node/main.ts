import { configFrom, readConfigFile, type NodeConfigFile } from './config.js';
import { startSignerNode } from './signer-node.js';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { loadOrCreateSigningKey } from '../policy/node-signing-key.js';
import { toHex } from '../core/hex.js';
import { join } from 'node:path';
import { createLogger } from '../observability/logger.js';
import { reportListening } from '../observability/listening.js';
import { commandLineOrExit } from '../core/command-line.js';

/** One signer node as its own process. The config file lists the peers and their identity public keys (see README). */
const USAGE = [
  'usage: node dist/src/node/main.js --config node-1.json [--id ID] [--host H] [--port 7001] [--relay host:port] [--data-dir DIR]',
  '       node dist/src/node/main.js --id node-1 --data-dir DIR --print-identity',
].join('\n');
const values = commandLineOrExit('node', USAGE, {
  config: { type: 'string' },
  id: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  relay: { type: 'string' },
  'data-dir': { type: 'string' },
  'print-identity': { type: 'boolean' },
});

const log = (msg: string) => createLogger('node', { node: values.id ?? 'node' }).error(msg);

try {
  const file: NodeConfigFile = values.config ? await readConfigFile(values.config) : { id: values.id ?? '' };
  if (values.id) file.id = values.id;
  if (values.host) file.host = values.host;
  if (values.port) file.port = Number(values.port);
  if (values.relay) file.relay = values.relay;
  if (values['data-dir']) file.data_dir = values['data-dir'];
  const config = configFrom(file);
  if (values['print-identity']) {
    const identity = await loadOrCreateIdentity(config.id, join(config.dataDir, 'identity.key'));
    // public_key for the peers' configuration, signing_key for the relays' node list.
    const signing = await loadOrCreateSigningKey(config.id, join(config.dataDir, 'signing.key'));
    process.stdout.write(`${JSON.stringify({ id: config.id, public_key: toHex(identity.publicKey), signing_key: signing.publicKeyHex })}\n`);
    process.exit(0);
  }
  const node = await startSignerNode(config, createLogger('node', { node: config.id }));
  reportListening(node.port);
  const stop = () => {
    node.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (e) {
  log(`failed to start: ${(e as Error).message}`);
  process.exit(1);
}
