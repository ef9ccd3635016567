import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RelayNode } from '../../src/relay/admission.js';
import type { RelayClient } from '../../src/relay/client.js';
import { capabilitySigningText, formatCapability, joinSigningText } from '../../src/relay/protocol.js';
import { generateSigningKey, loadOrCreateSigningKey } from '../../src/policy/node-signing-key.js';
import type { NodeSigningKey } from '../../src/policy/types.js';
import type { JoinSigner, RelayConnection } from '../../src/relay/connection.js';

/**
 * Relays admit a node's party id only with its key's signature and any other party only with a
 * capability a node signed (src/relay/admission.ts). Tests of the relay itself use these
 * stand-in nodes: fresh Ed25519 keys, a capability for any (room, party), and `admit`, which
 * makes a client present one on every join, as a room client does with create-room's.
 */
export interface TestRelayNodes {
  /** For startRelay's `nodes`. */
  nodes: RelayNode[];
  keys: Map<string, NodeSigningKey>;
  signer(nodeId: string): JoinSigner;
  /** A capability issued by the first node (or `issuer`), valid for `ttlMs` (negative: already expired). */
  capability(room: string, party: string, opts?: { ttlMs?: number; issuer?: string }): string;
  /** The client's joins without a capability of their own get one (for parties that are not nodes). */
  admit<C extends RelayClient | RelayConnection>(client: C): C;
  /** The relay process's --nodes file. */
  writeFile(dir: string): Promise<string>;
}

export function testRelayNodes(ids: string[] = ['test-node']): TestRelayNodes {
  const keys = new Map(ids.map((id) => [id, generateSigningKey(id)]));
  const nodes = [...keys.values()].map((k) => ({ id: k.nodeId, signingKey: new Uint8Array(Buffer.from(k.publicKeyHex, 'hex')) }));
  const capability = (room: string, party: string, opts: { ttlMs?: number; issuer?: string } = {}) => {
    const key = keys.get(opts.issuer ?? ids[0]!)!;
    const expiresAtMs = Date.now() + (opts.ttlMs ?? 600_000);
    const sig = Buffer.from(key.sign(new TextEncoder().encode(capabilitySigningText(key.nodeId, room, party, expiresAtMs)))).toString('base64url');
    return formatCapability({ issuer: key.nodeId, expiresAtMs, signature: sig });
  };
  return {
    nodes,
    keys,
    signer: (id) => {
      const key = keys.get(id);
      if (!key) throw new Error(`no test node ${id}`);
      return (message) => key.sign(message);
    },
    capability,
    admit(client) {
      const plain = client.join.bind(client);
      client.join = (room, party, onMessage, opts = {}) =>
        plain(room, party, onMessage, opts.capability !== undefined || keys.has(party) ? opts : { ...opts, capability: capability(room, party) });
      return client;
    },
    async writeFile(dir) {
      const path = join(dir, 'relay-nodes.json');
      await writeFile(path, JSON.stringify({ nodes: [...keys.values()].map((k) => ({ id: k.nodeId, signing_key: k.publicKeyHex })) }));
      return path;
    },
  };
}

/** The signature a node's join carries (base64), for raw sockets. */
export function signJoin(signer: JoinSigner, challenge: string, room: string, party: string): string {
  return Buffer.from(signer(new TextEncoder().encode(joinSigningText(challenge, room, party)))).toString('base64');
}

/** One set of stand-in nodes for a test file's relays. */
export const TEST_RELAY = testRelayNodes();

/**
 * The relay's view of nodes that keep their keys under `root/<id>/` (as startSignerNode does):
 * each node's signing key, made now if it does not exist yet, so the relay can start first.
 */
export async function nodeRelayKeys(root: string, ids: string[]): Promise<{ nodes: RelayNode[]; signer(id: string): JoinSigner }> {
  const keys = new Map(await Promise.all(ids.map(async (id) => [id, await loadOrCreateSigningKey(id, join(root, id, 'signing.key'))] as const)));
  return {
    nodes: [...keys.values()].map((k) => ({ id: k.nodeId, signingKey: new Uint8Array(Buffer.from(k.publicKeyHex, 'hex')) })),
    signer(id) {
      const key = keys.get(id);
      if (!key) throw new Error(`no node ${id}`);
      return (message) => key.sign(message);
    },
  };
}
