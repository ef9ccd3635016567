import { commandLineOrExit } from '../core/command-line.js';
import { firstStartAdminKeys, startCluster, stopOnSignal, upBanner } from './processes.js';

/**
 * `npm run start:prod`: the production layout on one machine, as a working example of the
 * README's "Production mode". Every component is its own process, configured only by
 * environment variables, on the machine's own servers:
 *   - two relays (7100, 7110) forming one relay through NATS JetStream (TANDEM_RELAY_NATS_URL);
 *     node-1 and node-3 use the first, node-2 the second, so every ceremony crosses relays;
 *   - node-1..3 (7101..7103), each in its own PostgreSQL schema (TANDEM_DATABASE_URL);
 *   - two wallet gateway copies (9645, 9646) sharing one schema and one KEK.
 * Defaults: PostgreSQL postgres://127.0.0.1:5432/test, NATS nats://127.0.0.1:4222, schemas
 * prefixed tandem_prod, identity keys under ./.tandem-prod, each process's KEK file under
 * ./.tandem-prod-secrets (outside the data directory; see secrets.ts).
 */
const values = commandLineOrExit('start:prod', 'usage: npm run start:prod -- [--data-dir DIR]', { 'data-dir': { type: 'string' } });
const dataDir = values['data-dir'] ?? process.env.TANDEM_DATA_DIR ?? './.tandem-prod';
const env: NodeJS.ProcessEnv = {
  TANDEM_DATABASE_URL: process.env.TANDEM_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test',
  TANDEM_DATABASE_SCHEMA_PREFIX: process.env.TANDEM_DATABASE_SCHEMA_PREFIX ?? 'tandem_prod',
  TANDEM_RELAY_NATS_URL: process.env.TANDEM_RELAY_NATS_URL ?? 'nats://127.0.0.1:4222',
};
const generated = firstStartAdminKeys(dataDir, 3);

try {
  const cluster = await startCluster({
    dataDir,
    basePort: 7100,
    relayPorts: [7100, 7110],
    nodes: 3,
    env,
    ...(generated ? { adminKeys: generated } : {}),
    gateway: { port: 9645, devScope: true, copies: 2 },
  });
  stopOnSignal(cluster, 'prod', 'stopping...');
  upBanner(
    [
      'Tandem (production mode, one machine) is up.',
      ...cluster.relays.map((r, i) => `  relay-${i + 1}  ${r.address}   (NATS ${env.TANDEM_RELAY_NATS_URL})`),
      ...cluster.nodes.map((n) => `  ${n.id}   ${n.url}   (schema ${env.TANDEM_DATABASE_SCHEMA_PREFIX}_${n.id.replace(/-/g, '_')})`),
      ...cluster.gateways.map((g, i) => `  gateway-${i + 1} ${g.url}`),
      `  database ${env.TANDEM_DATABASE_URL}`,
      `  metrics  GET /metrics on every node and gateway; readiness GET /health`,
    ],
    generated,
  );
} catch (e) {
  process.stderr.write(`start:prod failed: ${(e as Error).message}\n`);
  process.exit(1);
}
