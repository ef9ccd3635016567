import { existsSync } from 'node:fs';
import { copyFile, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isSecretEnvName } from '../crypto/kek-command.js';
import { createKeyFile } from '../crypto/kek-file.js';

/**
 * What a launcher gives each of its processes: its own secrets and nothing else. The relay
 * gets no admin key and no KEK; each node its own KEK file and admin key; the gateway its
 * KEK, and node-1's admin key only at its first start (to create its user on the nodes).
 *
 * KEK files live in a secrets directory beside the data directory (`<data>-secrets`, or
 * TANDEM_SECRETS_DIR), never inside it, so a copy of the data directory opens nothing. On one
 * machine this is a convenience for development and the one-machine examples: whoever reads
 * both directories has everything. In production each node gets its KEK from its own source.
 */
export function secretsDirOf(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const abs = resolve(dataDir);
  return resolve(env.TANDEM_SECRETS_DIR || join(dirname(abs), `${basename(abs)}-secrets`));
}

export interface LauncherKeks {
  nodeKekFiles: Map<string, string>;
  gatewayKekFile?: string;
  /** True when the gateway's KEK was made by this start: the gateway has sealed nothing yet. */
  gatewayKekCreated: boolean;
}

const NODE_KEK_SOURCES = ['TANDEM_KEK', 'TANDEM_KEK_FILE', 'TANDEM_KEK_COMMAND'];
const GATEWAY_KEK_SOURCES = ['TANDEM_GATEWAY_KEK', 'TANDEM_GATEWAY_KEK_FILE', 'TANDEM_GATEWAY_KEK_COMMAND'];

/**
 * Makes (or keeps) a KEK file per node, and the gateway's unless the launcher's environment
 * gives one. A data directory of release 0.1.0 keeps each KEK in `<data>/<id>/kek.key`: that
 * file is moved to the secrets directory, so the same key keeps opening the same shares.
 */
export async function prepareLauncherKeks(opts: {
  dataDir: string;
  secretsDir: string;
  nodeIds: string[];
  gateway: boolean;
  env: NodeJS.ProcessEnv;
  note: (msg: string) => void;
}): Promise<LauncherKeks> {
  const shared = NODE_KEK_SOURCES.filter((n) => opts.env[n]);
  if (shared.length) {
    throw new Error(
      `${shared.join(', ')} set for the launcher would give every node the same KEK; the launcher gives each node its own, in ${opts.secretsDir}. ` +
        `A cluster that ran with one shared KEK: start it once with that KEK as TANDEM_KEK_PREVIOUS instead, and each node re-seals its shares under its own`,
    );
  }
  await mkdir(opts.secretsDir, { recursive: true, mode: 0o700 });
  const nodeKekFiles = new Map<string, string>();
  for (const id of opts.nodeIds) {
    const file = join(opts.secretsDir, `${id}.kek`);
    await keepOrCreate(file, join(opts.dataDir, id, 'kek.key'), id, opts.note);
    nodeKekFiles.set(id, file);
  }
  if (!opts.gateway || GATEWAY_KEK_SOURCES.some((n) => opts.env[n])) return { nodeKekFiles, gatewayKekCreated: false };
  const gatewayKekFile = join(opts.secretsDir, 'gateway.kek');
  const gatewayKekCreated = await keepOrCreate(gatewayKekFile, join(opts.dataDir, 'gateway', 'kek.key'), 'gateway', opts.note);
  return { nodeKekFiles, gatewayKekFile, gatewayKekCreated };
}

/** True when a new key was made. */
async function keepOrCreate(file: string, legacy: string, who: string, note: (msg: string) => void): Promise<boolean> {
  const hasLegacy = existsSync(legacy);
  if (existsSync(file)) {
    if (hasLegacy) throw new Error(`${who} has two KEKs, ${legacy} (inside its data directory) and ${file}: keep the one its shares are sealed under, in ${file}`);
    return false;
  }
  if (hasLegacy) {
    await moveFile(legacy, file);
    note(`moved ${who}'s KEK out of its data directory: ${legacy} -> ${file}`);
    return false;
  }
  await createKeyFile(file);
  return true;
}

/** rename, or across file systems a durable copy (mode 0600) before the original goes. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
  }
  await copyFile(from, to);
  const fh = await open(to, 'r+');
  try {
    await fh.chmod(0o600);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await unlink(from);
}

export interface ProcessEnvs {
  relay: NodeJS.ProcessEnv;
  node(id: string): NodeJS.ProcessEnv;
  gateway: NodeJS.ProcessEnv;
}

/**
 * Each child's environment: the launcher's without any secret, plus that child's own. A node's
 * admin key is its own from `adminKeys`, else TANDEM_ADMIN_KEY; the gateway's, at its first
 * start only, is the first node's (it creates its user there).
 */
export function processEnvs(env: NodeJS.ProcessEnv, keks: LauncherKeks, gatewayFirstStart: boolean, adminKeys?: Record<string, string>): ProcessEnvs {
  const base = Object.fromEntries(Object.entries(env).filter(([k]) => !isSecretEnvName(k)));
  const pick = (re: RegExp) => Object.fromEntries(Object.entries(env).filter(([k, v]) => re.test(k) && v !== undefined));
  const adminOf = (id: string | undefined) => {
    const key = (id !== undefined ? adminKeys?.[id] : undefined) ?? env.TANDEM_ADMIN_KEY;
    return key ? { TANDEM_ADMIN_KEY: key } : {};
  };
  const firstNode = [...keks.nodeKekFiles.keys()][0];
  // Node KEK variables the launcher passes on: earlier KEKs (moving off a shared one) and the command timeout.
  const nodeKekExtras = pick(/^TANDEM_KEK_(PREVIOUS|PREVIOUS_FILE|PREVIOUS_COMMAND|COMMAND_TIMEOUT_MS)$/);
  const gatewayKek = keks.gatewayKekFile ? { ...pick(/^TANDEM_GATEWAY_KEK_/), TANDEM_GATEWAY_KEK_FILE: keks.gatewayKekFile } : pick(/^TANDEM_GATEWAY_KEK/);
  return {
    relay: base,
    node: (id) => {
      const file = keks.nodeKekFiles.get(id);
      if (!file) throw new Error(`no KEK prepared for ${id}`);
      return { ...base, ...adminOf(id), ...nodeKekExtras, TANDEM_KEK_FILE: file };
    },
    gateway: { ...base, ...gatewayKek, ...(gatewayFirstStart ? adminOf(firstNode) : {}) },
  };
}
