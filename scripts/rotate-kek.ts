import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kekSourcesFrom, loadKeyring } from '../src/crypto/kek-sources.js';
import type { Keyring } from '../src/crypto/share-seal.js';
import { GATEWAY_SETTINGS_COLUMN } from '../src/gateway/sealed-settings.js';
import { GATEWAY_MIGRATIONS } from '../src/gateway/storage/migrations.js';
import { configFrom, readConfigFile } from '../src/node/config.js';
import { nodeSharesColumn } from '../src/node/sealed-shares.js';
import { migrate } from '../src/storage/migrations.js';
import { runMigrations } from '../src/db/migrate.js';
import { databaseFrom, openDatabase, type DatabaseConfig } from '../src/db/open-database.js';
import { describeCensus, resealAll, sealedCensus, type SealedColumn } from '../src/db/reseal.js';
import type { SqlClient } from '../src/db/sql.js';

/**
 * npm run rotate-kek -- --config node-1.json [--check]
 * npm run rotate-kek -- --gateway [--check]
 *
 * Re-seals every sealed record of one node (its shares) or of the gateway (its settings)
 * under the current KEK, with the same environment the process runs with: the database
 * (TANDEM_DATABASE_URL..., or the embedded one under the data directory) and the KEKs
 * (TANDEM_KEK* / TANDEM_GATEWAY_KEK*, the old one in ..._PREVIOUS*). On PostgreSQL it runs
 * beside the running process, which must already hold both KEKs (README, "Rotating a KEK").
 * An embedded database has one user at a time: stop the node first, or let the node
 * re-seal by itself when it starts with the previous KEK. `--check` only counts records
 * per KEK id. Exit code 0: every record is under the current KEK; 1: an error or a record
 * no given KEK opens; 2 (with --check): records are left under other KEKs.
 */
const { values } = parseArgs({ options: { config: { type: 'string' }, gateway: { type: 'boolean' }, check: { type: 'boolean' } } });
const say = (msg: string) => process.stdout.write(`${msg}\n`);

async function main(): Promise<number> {
  if (!values.config === !values.gateway) throw new Error('give either --config <node config file> or --gateway');
  const target = values.config ? await nodeTarget(values.config) : gatewayTarget();
  if (target.database.kind === 'embedded' && target.listening && (await answers(target.listening.host, target.listening.port))) {
    throw new Error(`${target.name} is running (${target.listening.host}:${target.listening.port} answers) and its database is embedded: stop it first, or restart it with the previous KEK so that it re-seals by itself`);
  }
  const keyring = await loadKeyring(target.kek, { dataDirs: [target.dataDir, ...(target.database.kind === 'embedded' ? [target.database.dir] : [])], warn: say });
  const sql = await openDatabase(target.database, target.migrate);
  try {
    return await rotate(sql, target.column, keyring, target.name);
  } finally {
    await sql.close();
  }
}

async function rotate(sql: SqlClient, column: SealedColumn, keyring: Keyring, name: string): Promise<number> {
  say(`${name}: current KEK ${keyring.currentId}; records per KEK: ${describeCensus(await sealedCensus(sql, column))}`);
  if (values.check) {
    const left = [...(await sealedCensus(sql, column)).keys()].filter((id) => id !== keyring.currentId);
    return left.length ? 2 : 0;
  }
  const r = await resealAll(sql, column, keyring);
  say(`${name}: re-sealed ${r.resealed}; records per KEK now: ${describeCensus(await sealedCensus(sql, column))}`);
  if (r.failed.length) {
    say(`${name}: ${r.failed.length} records open with none of the given KEKs (ids: ${r.failed.slice(0, 10).join(', ')}${r.failed.length > 10 ? ', ...' : ''})`);
    return 1;
  }
  return 0;
}

interface Target {
  name: string;
  dataDir: string;
  database: DatabaseConfig;
  kek: ReturnType<typeof kekSourcesFrom>;
  column: SealedColumn;
  migrate: (sql: SqlClient) => Promise<unknown>;
  listening?: { host: string; port: number };
}

async function nodeTarget(path: string): Promise<Target> {
  const config = configFrom(await readConfigFile(path));
  return {
    name: config.id,
    dataDir: config.dataDir,
    database: config.database,
    kek: config.kek,
    column: nodeSharesColumn(config.id),
    migrate,
    listening: { host: config.host, port: config.port },
  };
}

function gatewayTarget(): Target {
  const env = process.env;
  const dataDir = resolve(env.TANDEM_GATEWAY_DATA_DIR ?? join(env.TANDEM_DATA_DIR ?? './.tandem', 'gateway'));
  return {
    name: 'gateway',
    dataDir,
    database: databaseFrom(env, 'gateway', join(dataDir, 'db')),
    kek: kekSourcesFrom(env, 'TANDEM_GATEWAY_KEK'),
    column: GATEWAY_SETTINGS_COLUMN,
    migrate: (sql) => runMigrations(sql, GATEWAY_MIGRATIONS),
    listening: { host: env.TANDEM_GATEWAY_HOST ?? '127.0.0.1', port: Number(env.TANDEM_GATEWAY_PORT ?? 9545) },
  };
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, host, () => {
      s.destroy();
      r(true);
    });
    s.on('error', () => r(false));
  });
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`rotate-kek: ${e.message}\n`);
    process.exit(1);
  },
);
