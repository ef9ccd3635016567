import { readFile } from 'node:fs/promises';
import { fromHex } from '../core/hex.js';
import type { RelayNode } from './admission.js';

/**
 * The relay's list of nodes, from a JSON file: the cluster file the launchers write
 * (`{ "nodes": [{ "id", "public_key", "signing_key" }, ...] }`) or a bare array of such
 * entries. Only `id` and `signing_key` (hex Ed25519 public key, as a node's GET /identity
 * `signing_public_key` and `--print-identity` show it) matter here; other fields are ignored.
 */
export async function readRelayNodes(path: string): Promise<RelayNode[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`relay nodes file ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`relay nodes file ${path}: not JSON`);
  }
  return parseRelayNodes(value, path);
}

export function parseRelayNodes(value: unknown, where: string): RelayNode[] {
  const list = Array.isArray(value) ? value : (value as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`relay nodes file ${where}: expected a non-empty "nodes" array`);
  return list.map((entry: unknown, i) => {
    const e = entry as { id?: unknown; signing_key?: unknown } | null;
    if (typeof e?.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(e.id)) throw new Error(`relay nodes file ${where}: entry ${i} has no valid "id"`);
    if (typeof e.signing_key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.signing_key)) {
      throw new Error(`relay nodes file ${where}: node ${e.id} has no "signing_key" (64 hex characters: its GET /identity signing_public_key)`);
    }
    return { id: e.id, signingKey: fromHex(e.signing_key) };
  });
}
