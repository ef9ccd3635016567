import { DEFAULT_NATS_STREAM, redactNatsUrl } from './nats-backplane.js';
import { createLogger } from '../observability/logger.js';
import { readRelayNodes } from './node-list.js';
import { startRelay, type RelayBackplaneConfig } from './server.js';
import { reportListening } from '../observability/listening.js';
import { commandLineOrExit, exitWithUsage } from '../core/command-line.js';

const USAGE = [
  'usage: relay [--host 127.0.0.1] --port <port> --nodes <file> [--nats nats://host:4222] [--nats-stream NAME]',
  '  env: TANDEM_RELAY_PORT, TANDEM_RELAY_NODES_FILE, TANDEM_RELAY_NATS_URL, TANDEM_RELAY_NATS_STREAM (default TANDEM_RELAY)',
  '  The nodes file lists the cluster\'s nodes and their signing keys ({"nodes":[{"id","signing_key"}]}, e.g. the',
  '  launcher\'s cluster.json): only a node signs its way into its own seat, only a room\'s capability admits a client.',
  '  With a NATS URL, every relay process given the same URL and stream serves one relay (JetStream);',
  '  without one the relay keeps its rooms in this process.',
].join('\n');

/** A mistake in the command line or environment: reported with the usage. */
class UsageError extends Error {}

function parsePort(text: string | undefined): number {
  if (text === undefined || !/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`invalid or missing port ${JSON.stringify(text ?? '')}`);
  }
  return Number(text);
}

function backplaneConfig(url: string | undefined, stream: string | undefined): RelayBackplaneConfig {
  if (url === undefined || url === '') {
    if (stream !== undefined && stream !== '') throw new UsageError('a NATS stream name needs a NATS URL (--nats or TANDEM_RELAY_NATS_URL)');
    return { type: 'memory' };
  }
  return { type: 'nats', url, stream: stream === undefined || stream === '' ? DEFAULT_NATS_STREAM : stream };
}

async function main(): Promise<void> {
  const values = commandLineOrExit('relay', USAGE, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    nodes: { type: 'string' },
    nats: { type: 'string' },
    'nats-stream': { type: 'string' },
  });
  const host = values.host ?? '127.0.0.1';
  const port = parsePort(values.port ?? process.env.TANDEM_RELAY_PORT);
  const backplane = backplaneConfig(values.nats ?? process.env.TANDEM_RELAY_NATS_URL, values['nats-stream'] ?? process.env.TANDEM_RELAY_NATS_STREAM);
  const nodesFile = values.nodes ?? process.env.TANDEM_RELAY_NODES_FILE;
  // No list, no relay: one that admitted anyone as anyone is what this list exists to prevent.
  if (nodesFile === undefined || nodesFile === '') throw new UsageError('the relay needs its nodes file (--nodes or TANDEM_RELAY_NODES_FILE)');
  const nodes = await readRelayNodes(nodesFile);
  const logger = createLogger('relay', { relay: `${host}:${port}` });
  const relay = await startRelay({ host, port, nodes, backplane, log: (msg) => logger.info(msg) });
  // Every change of the backplane's state is a log line; GET /health on the relay's port reports it too.
  const via = backplane.type === 'nats' ? ` (NATS ${redactNatsUrl(backplane.url)}, stream ${backplane.stream})` : '';
  console.log(`relay listening on ${host.includes(':') ? `[${host}]` : host}:${relay.port}${via}`);
  reportListening(relay.port);

  const shutdown = (): void => {
    relay.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`relay: shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) exitWithUsage('relay', USAGE, err.message);
  console.error(`relay: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
