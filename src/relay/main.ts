import { parseArgs } from 'node:util';
import { startRelay } from './server.js';

const USAGE = 'usage: relay [--host 127.0.0.1] --port <port>   (or env TANDEM_RELAY_PORT)';

function parsePort(text: string | undefined): number {
  if (text === undefined || !/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) {
    throw new Error(`invalid or missing port ${JSON.stringify(text ?? '')}`);
  }
  return Number(text);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
    },
    strict: true,
  });
  const host = values.host ?? '127.0.0.1';
  const relay = await startRelay({
    host,
    port: parsePort(values.port ?? process.env.TANDEM_RELAY_PORT),
    log: (msg) => console.error(`relay: ${msg}`),
  });
  console.log(`relay listening on ${host.includes(':') ? `[${host}]` : host}:${relay.port}`);

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
  console.error(`relay: ${err instanceof Error ? err.message : String(err)}`);
  console.error(USAGE);
  process.exitCode = 2;
});
