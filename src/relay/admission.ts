import { verify, type KeyObject } from 'node:crypto';
import { ed25519PublicKeyObject } from '../core/ed25519-key.js';
import { MAX_CAPABILITY_LIFETIME_MS, capabilitySigningText, joinSigningText, parseCapability } from './protocol.js';

/**
 * Who may join a relay room as which party (the protocol is described at "Admission" in
 * protocol.ts). The relay's list of nodes is its root of trust, as the peers in a node's
 * configuration are the node's: a node's party id is taken only by whoever signs with that
 * node's key, and a client party only by whoever holds a capability one of those nodes issued.
 */
export interface RelayNode {
  id: string;
  /** Raw 32-byte Ed25519 public key: the node's signing key (GET /identity `signing_public_key`). */
  signingKey: Uint8Array;
}

/** Who a join speaks for, for quotas: a node (across its sockets and rooms), or one client of one room. */
export interface Sender {
  key: string;
  node: boolean;
}

export type Admission = { ok: true; sender: Sender } | { ok: false; reason: string };

export interface JoinEvidence {
  room: string;
  party: string;
  sig?: string;
  cap?: string;
}

const UTF8 = new TextEncoder();

export class RelayAdmission {
  readonly #keys = new Map<string, KeyObject>();

  constructor(nodes: Iterable<RelayNode>) {
    for (const n of nodes) {
      if (this.#keys.has(n.id)) throw new Error(`relay nodes: ${n.id} listed twice`);
      if (n.signingKey.length !== 32) throw new Error(`relay nodes: ${n.id}: signing key must be 32 bytes`);
      this.#keys.set(n.id, ed25519PublicKeyObject(n.signingKey));
    }
  }

  get nodeCount(): number {
    return this.#keys.size;
  }

  isNode(party: string): boolean {
    return this.#keys.has(party);
  }

  /** Decides one join on a socket whose challenge is `challenge`. Reasons are fixed texts: nothing of the evidence is echoed. */
  check(join: JoinEvidence, challenge: string, now = Date.now()): Admission {
    const { room, party } = join;
    const nodeKey = this.#keys.get(party);
    if (nodeKey) {
      // A node's id is never joinable by capability: a node would otherwise hand out its peers' seats.
      if (join.sig === undefined) return refuse(`${party} is a node: its join must be signed with its key`);
      if (!this.#verify(nodeKey, joinSigningText(challenge, room, party), join.sig, 'base64')) return refuse(`bad join signature for ${party}`);
      return { ok: true, sender: { key: party, node: true } };
    }
    if (join.cap === undefined) return refuse(`unknown party ${party}: a room client joins with the capability of its room`);
    const cap = parseCapability(join.cap);
    if (!cap) return refuse('malformed capability');
    const issuerKey = this.#keys.get(cap.issuer);
    if (!issuerKey) return refuse('capability from an unknown issuer');
    if (cap.expiresAtMs <= now) return refuse('capability expired');
    if (cap.expiresAtMs > now + MAX_CAPABILITY_LIFETIME_MS) return refuse('capability lives too long');
    if (!this.#verify(issuerKey, capabilitySigningText(cap.issuer, room, party, cap.expiresAtMs), cap.signature, 'base64url')) {
      return refuse(`capability is not valid for ${party} in this room`);
    }
    return { ok: true, sender: { key: `${room}/${party}`, node: false } };
  }

  #verify(key: KeyObject, text: string, signature: string, encoding: 'base64' | 'base64url'): boolean {
    const sig = Buffer.from(signature, encoding);
    // Buffer skips what is not base64: a length check and a round trip keep the encoding canonical.
    if (sig.length !== 64 || sig.toString(encoding).replace(/=+$/, '') !== signature.replace(/=+$/, '')) return false;
    try {
      return verify(null, UTF8.encode(text), key, sig);
    } catch {
      return false;
    }
  }
}

function refuse(reason: string): Admission {
  return { ok: false, reason: `join refused: ${reason}` };
}
