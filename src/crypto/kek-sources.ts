import { existsSync, realpathSync } from 'node:fs';
import { join, relative, resolve, isAbsolute, sep } from 'node:path';
import { runKekCommand } from './kek-command.js';
import { createKeyFile, readKeyFile } from './kek-file.js';
import { kekBytesFromHex, Keyring } from './share-seal.js';

/**
 * Where a process's KEKs come from. `<P>` is TANDEM_KEK for a node, TANDEM_GATEWAY_KEK for
 * the gateway:
 *   <P>                 the current KEK, 64 hex
 *   <P>_FILE            a file holding it (32 raw bytes or 64 hex), outside the data directory
 *   <P>_COMMAND         a command printing it as 64 hex (KMS, secret manager CLI)
 *   <P>_PREVIOUS, <P>_PREVIOUS_FILE, <P>_PREVIOUS_COMMAND
 *                       earlier KEKs (hex and files comma-separated) that still open records
 *                       until rotation has re-sealed them
 *   <P>_COMMAND_TIMEOUT_MS  how long a command may run (default 10000)
 *   TANDEM_DEV_KEK_IN_DATA_DIR=1  development only: a KEK file may live in the data
 *                       directory, and with no source one is made there (<data>/kek.key)
 * Exactly one current source; without the development flag, none is an error.
 */
export interface KekSources {
  prefix: string;
  hex?: string;
  file?: string;
  command?: string;
  previousHex: string[];
  previousFiles: string[];
  previousCommand?: string;
  commandTimeoutMs: number;
  devInDataDir: boolean;
}

export const DEV_FLAG = 'TANDEM_DEV_KEK_IN_DATA_DIR';

export function kekSourcesFrom(env: NodeJS.ProcessEnv, prefix: 'TANDEM_KEK' | 'TANDEM_GATEWAY_KEK'): KekSources {
  const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const timeout = env[`${prefix}_COMMAND_TIMEOUT_MS`];
  const commandTimeoutMs = timeout === undefined || timeout === '' ? 10_000 : Number(timeout);
  if (!Number.isInteger(commandTimeoutMs) || commandTimeoutMs < 100 || commandTimeoutMs > 600_000) {
    throw new Error(`${prefix}_COMMAND_TIMEOUT_MS must be 100..600000 milliseconds`);
  }
  const flag = (env[DEV_FLAG] ?? '').trim();
  if (!['', '0', '1'].includes(flag)) throw new Error(`${DEV_FLAG} must be 0 or 1`);
  return {
    prefix,
    ...(env[prefix] ? { hex: env[prefix] } : {}),
    ...(env[`${prefix}_FILE`] ? { file: env[`${prefix}_FILE`] } : {}),
    ...(env[`${prefix}_COMMAND`] ? { command: env[`${prefix}_COMMAND`] } : {}),
    previousHex: list(env[`${prefix}_PREVIOUS`]),
    previousFiles: list(env[`${prefix}_PREVIOUS_FILE`]),
    ...(env[`${prefix}_PREVIOUS_COMMAND`] ? { previousCommand: env[`${prefix}_PREVIOUS_COMMAND`] } : {}),
    commandTimeoutMs,
    devInDataDir: flag === '1',
  };
}

/** Sources with just one hex KEK (tests, and GatewayOptions.kekHex). */
export function hexKekSources(prefix: string, hex: string | undefined, devInDataDir = false): KekSources {
  return { prefix, ...(hex ? { hex } : {}), previousHex: [], previousFiles: [], commandTimeoutMs: 10_000, devInDataDir };
}

export interface KekPlacement {
  /** The process's data directory, and any other directory of its data (an embedded database elsewhere). */
  dataDirs: string[];
  /** Told when the development flag lets a key file sit in the data directory. */
  warn?: (msg: string) => void;
}

/** The current KEK and the previous ones, checked against the data directories. */
export async function loadKeyring(src: KekSources, place: KekPlacement): Promise<Keyring> {
  const chosen = [src.hex && src.prefix, src.file && `${src.prefix}_FILE`, src.command && `${src.prefix}_COMMAND`].filter(Boolean);
  if (chosen.length > 1) throw new Error(`set only one of ${chosen.join(', ')}`);
  const raws: Buffer[] = [];
  try {
    raws.push(await currentKek(src, place));
    for (const hex of src.previousHex) raws.push(kekBytesFromHex(hex, `each KEK in ${src.prefix}_PREVIOUS`));
    for (const file of src.previousFiles) raws.push(await fromFile(file, `${src.prefix}_PREVIOUS_FILE`, src, place));
    if (src.previousCommand) raws.push(await runKekCommand(src.previousCommand, `${src.prefix}_PREVIOUS_COMMAND`, src.commandTimeoutMs));
    const [current, ...previous] = raws;
    return new Keyring(current!, previous);
  } catch (e) {
    for (const r of raws) r.fill(0);
    throw e;
  }
}

async function currentKek(src: KekSources, place: KekPlacement): Promise<Buffer> {
  if (src.hex) return kekBytesFromHex(src.hex, src.prefix);
  if (src.file) return fromFile(src.file, `${src.prefix}_FILE`, src, place);
  if (src.command) return runKekCommand(src.command, `${src.prefix}_COMMAND`, src.commandTimeoutMs);
  const dataDir = place.dataDirs[0]!;
  const legacy = join(dataDir, 'kek.key');
  if (src.devInDataDir) {
    place.warn?.(`the KEK is ${legacy}, inside the data directory (${DEV_FLAG}=1, development only): a copy of the data directory opens every share`);
    await createKeyFile(legacy);
    return readKeyFile(legacy);
  }
  if (existsSync(legacy)) {
    throw new Error(
      `${legacy} is a KEK inside the data directory (an earlier release made it there): a copy of the data directory would open every sealed share. ` +
        `Move it out of the data directory (e.g. mv ${legacy} /etc/tandem/secrets/) and set ${src.prefix}_FILE to its new path, ` +
        `or give the same key as ${src.prefix} or ${src.prefix}_COMMAND; ${DEV_FLAG}=1 keeps it where it is, for development only`,
    );
  }
  throw new Error(
    `no KEK configured: set ${src.prefix}_FILE (a file outside the data directory ${dataDir}), ${src.prefix}_COMMAND or ${src.prefix}; ` +
      `${DEV_FLAG}=1 makes one inside the data directory, for development only`,
  );
}

async function fromFile(file: string, what: string, src: KekSources, place: KekPlacement): Promise<Buffer> {
  const inside = place.dataDirs.find((d) => isInside(file, d));
  if (inside !== undefined) {
    if (!src.devInDataDir) {
      throw new Error(
        `${what} ${file} is inside the data directory ${inside}: a copy of the data directory would open every sealed share. ` +
          `Keep the KEK elsewhere (another volume, a secret manager) or set ${DEV_FLAG}=1 for development`,
      );
    }
    place.warn?.(`${what} ${file} is inside the data directory (${DEV_FLAG}=1, development only)`);
  }
  try {
    return await readKeyFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${what} ${file} does not exist; make one with: (umask 077; openssl rand -hex 32 > ${file})`);
    }
    throw e;
  }
}

/** Compared after resolving symlinks as far as the paths exist, so a link can't hide a file in the data directory. */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(canonical(dir), canonical(path));
  // `..` or `../...` is outside; a name that only begins with two dots (`..kek`) is inside.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function canonical(p: string): string {
  const abs = resolve(p);
  // The longest existing prefix resolved, the rest appended: a path that doesn't exist yet still compares right.
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...tail);
    } catch {
      const parent = resolve(head, '..');
      if (parent === head) return abs;
      tail.unshift(relative(parent, head));
      head = parent;
    }
  }
}
