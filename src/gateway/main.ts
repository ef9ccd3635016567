import { createLogger } from '../observability/logger.js';
import { optionsFromEnv, startGateway } from './start.js';
import { reportListening } from '../observability/listening.js';
import { commandLineOrExit } from '../core/command-line.js';

/** `node dist/src/gateway/main.js [--dev-scope]`: the wallet gateway; configuration in start.ts. */
const values = commandLineOrExit('gateway', 'usage: node dist/src/gateway/main.js [--dev-scope]   (configured by environment variables: README)', { 'dev-scope': { type: 'boolean' } });
try {
  const gw = await startGateway({ ...optionsFromEnv(process.env, values['dev-scope'] ?? false), logger: createLogger('gateway') });
  process.stdout.write(`gateway listening on ${gw.url}${gw.devScopeId ? ` (dev scope ${gw.devScopeId})` : ''}\n`);
  reportListening(gw.port);
  const stop = () => void gw.close().then(() => process.exit(0), () => process.exit(1));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (e) {
  process.stderr.write(`gateway failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
