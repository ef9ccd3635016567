import { commandLineOrExit, exitWithUsage } from '../core/command-line.js';
import { firstStartAdminKeys, startCluster, stopOnSignal, upBanner } from './processes.js';
import { secretsDirOf } from './secrets.js';

/**
 * `npm start`: a relay on 127.0.0.1:7000 and node-1..3 on 7001..7003, each its own
 * process with embedded storage under TANDEM_DATA_DIR (default ./.tandem). Ctrl-C stops
 * everything. The wallet gateway listens on 127.0.0.1:9545 with a dev scope (RP ID
 * localhost, any http://localhost port) whose id is TANDEM_SCOPE_ID, or one made and kept,
 * and scope creation open to any app key.
 */
const USAGE = 'usage: npm start -- [--base-port 7000] [--data-dir DIR]   (the relay on the base port, node-i on base + i)';
const values = commandLineOrExit('start', USAGE, { 'base-port': { type: 'string' }, 'data-dir': { type: 'string' } });
const dataDir = values['data-dir'] ?? process.env.TANDEM_DATA_DIR ?? './.tandem';
const basePortText = values['base-port'] ?? '7000';
// The nodes listen on base + 1..3: a port above 65532 leaves one of them none.
if (!/^[0-9]{1,5}$/.test(basePortText) || Number(basePortText) > 65532) exitWithUsage('start', USAGE, `invalid --base-port ${JSON.stringify(basePortText)}`);
const basePort = Number(basePortText);
const GATEWAY_PORT = 9545;
const env: NodeJS.ProcessEnv = {};
const generated = firstStartAdminKeys(dataDir, 3);

try {
  // A development cluster: any app key may create a scope (TANDEM_OPEN_SCOPES=0 closes it).
  const cluster = await startCluster({ dataDir, basePort, nodes: 3, env, ...(generated ? { adminKeys: generated } : {}), gateway: { port: GATEWAY_PORT, devScope: true, openScopes: true } });
  // The gateway made or kept the scope; it says which.
  const devScope = await fetch(`${cluster.gateway!.url}/wallet/config.json`)
    .then(async (r) => ((await r.json()) as { scope_id: string }).scope_id)
    .catch(() => '(unknown: GET /wallet/config.json failed)');
  stopOnSignal(cluster, 'dev', 'stopping the dev cluster...');
  upBanner(
    [
      'Tandem dev cluster is up.',
      `  relay    ${cluster.relay.address}`,
      ...cluster.nodes.map((n) => `  ${n.id}   ${n.url}   (OpenAPI: ${n.url}/openapi.json)`),
      `  gateway  ${cluster.gateway!.url}   (wallet page: http://localhost:${GATEWAY_PORT}/wallet/)`,
      `  scope    ${devScope}   (TANDEM_SCOPE_ID; RP ID localhost, origins http://localhost:*)`,
      `  data     ${dataDir}`,
      `  secrets  ${secretsDirOf(dataDir)}   (each process's KEK, outside the data directory; on one machine a convenience, not a vault)`,
      ...(process.env.TANDEM_DATABASE_URL ? [`  database ${process.env.TANDEM_DATABASE_URL} (a schema per node and for the gateway)`] : []),
    ],
    generated,
  );
} catch (e) {
  process.stderr.write(`dev cluster failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
