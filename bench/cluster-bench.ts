import { randomBytes, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { loadOrCreateSigningKey } from '../src/policy/node-signing-key.js';
import { RelayClient, relayUrl } from '../src/relay/client.js';
import { fromHex, toHex } from '../src/core/hex.js';
import { call, HttpError } from './http.js';
import { relayPair } from './relay-pair.js';
import { ed25519KeyObject, ethAddress, recoversTo, verifyBip340, verifyEcdsa, verifyEd25519 } from './verify.js';

/**
 * Measurements through a running cluster: every request is real HTTP to a signer node,
 * which coordinates the ceremony with its peers over the relay. Every signature that
 * comes back is checked independently (verify.ts): BIP340 by libsecp256k1 against the
 * key's x-only public key, Ed25519 by OpenSSL (node:crypto), ECDSA by libsecp256k1
 * (strict low-S) and by ethers recovering the key's address from the recovery id.
 */
export type Family = 'bip340' | 'ed25519' | 'ecdsa';

/** Public key length in each family's API: x-only, RFC 8032, compressed SEC1. */
const PUBLIC_KEY_BYTES: Record<Family, number> = { bip340: 32, ed25519: 32, ecdsa: 33 };

export interface BenchKey {
  family: Family;
  keyId: string;
  publicKey: Uint8Array;
  /** Ed25519: the key as node:crypto verifies with it. */
  keyObject?: KeyObject;
  /** ECDSA: the Ethereum address ethers must recover. */
  address?: string;
}

/** What a sign endpoint answers; recovery_id only for ECDSA. */
interface SignResponse {
  signature: string;
  recovery_id?: number;
}

/** Tallies shared by every cluster phase, so the final verdict sees them all. */
export class Tally {
  verified = 0;
  badSignatures = 0;
  errors = 0;
  readonly errorKinds = new Map<string, number>();
  /** Per independent check ("ecdsa: ethers recovery"...): how many passed and failed. */
  readonly checks = new Map<string, { ok: number; bad: number }>();

  recordError(e: unknown): void {
    this.errors++;
    // Group by status and error type, not by message, which carries ids.
    const kind = e instanceof HttpError ? `HTTP ${e.status} ${errType(e.body)}` : (e as Error).message ?? String(e);
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }

  /** A signature counts as verified only if every check of its family passes. */
  check(msg: Uint8Array, key: BenchKey, res: SignResponse): void {
    let sig: Uint8Array | undefined;
    try {
      sig = fromHex(res.signature, 64);
    } catch {
      sig = undefined; // a malformed signature is a failed one
    }
    const results: Array<[string, boolean]> = [];
    switch (key.family) {
      case 'bip340':
        results.push(['bip340: libsecp256k1', !!sig && verifyBip340(msg, key.publicKey, sig)]);
        break;
      case 'ed25519':
        results.push(['ed25519: node:crypto (OpenSSL)', !!sig && verifyEd25519(msg, key.keyObject!, sig)]);
        break;
      case 'ecdsa':
        results.push(['ecdsa: libsecp256k1 strict', !!sig && verifyEcdsa(msg, key.publicKey, sig)]);
        results.push(['ecdsa: ethers recovery', !!sig && recoversTo(msg, sig, Number(res.recovery_id), key.address!)]);
        break;
    }
    this.record(results);
  }

  /** Named independent checks of one signature; it counts as verified only if all pass. */
  record(results: ReadonlyArray<[string, boolean]>): void {
    for (const [name, ok] of results) {
      const c = this.checks.get(name) ?? { ok: 0, bad: 0 };
      if (ok) c.ok++;
      else c.bad++;
      this.checks.set(name, c);
    }
    if (results.every(([, ok]) => ok)) this.verified++;
    else this.badSignatures++;
  }
}

function errType(body: string): string {
  try {
    const parsed = JSON.parse(body) as { err_type?: unknown; err_msg?: unknown };
    return `${String(parsed.err_type)}: ${String(parsed.err_msg).replace(/[0-9a-f-]{20,}/g, '…').slice(0, 160)}`;
  } catch {
    return body.slice(0, 160);
  }
}

export async function createUser(nodeUrl: string, adminKey: string): Promise<string> {
  const res = await call<{ user_id: string; api_key: string }>('POST', `${nodeUrl}/admin/create-user`, adminKey, {});
  return res.api_key;
}

/** A 2-of-3 key of `family`, made by `nodeUrl` as coordinator. */
export async function keygen(nodeUrl: string, apiKey: string, family: Family = 'bip340'): Promise<BenchKey> {
  const res = await call<{ key_id: string; public_key: string }>('POST', `${nodeUrl}/${family}/keygen`, apiKey, {
    num_parties: 3,
    threshold: 2,
  });
  const key: BenchKey = { family, keyId: res.key_id, publicKey: fromHex(res.public_key, PUBLIC_KEY_BYTES[family]) };
  if (family === 'ed25519') key.keyObject = ed25519KeyObject(key.publicKey);
  if (family === 'ecdsa') key.address = ethAddress(key.publicKey);
  return key;
}

/**
 * One signature of a fresh random 32-byte message (for ECDSA: the hash to sign), verified;
 * returns its latency in ms.
 */
export async function signOnce(nodeUrl: string, apiKey: string, key: BenchKey, tally: Tally): Promise<number> {
  const msg = new Uint8Array(randomBytes(32));
  const t0 = performance.now();
  const res = await call<SignResponse>('POST', `${nodeUrl}/${key.family}/sign`, apiKey, { key_id: key.keyId, msg: toHex(msg) });
  const dt = performance.now() - t0;
  tally.check(msg, key, res);
  return dt;
}

/** Sequential timing of an async operation; failures are tallied, not timed. */
export async function timeAsync(warmup: number, iterations: number, tally: Tally, op: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op().catch((e: unknown) => tally.recordError(e));
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    try {
      await op();
      samples.push(performance.now() - t0);
    } catch (e) {
      tally.recordError(e);
    }
  }
  return samples;
}

/** Like timeAsync, for an op that reports its own latency (so verification is excluded). */
export async function collect(warmup: number, iterations: number, tally: Tally, op: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op().catch((e: unknown) => tally.recordError(e));
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    try {
      samples.push(await op());
    } catch (e) {
      tally.recordError(e);
    }
  }
  return samples;
}

export interface LoadResult {
  latencies: number[];
  errors: number;
  elapsedMs: number;
}

/**
 * `clients` concurrent loops, each signing back to back until `durationMs` is up. Client
 * i talks to node i mod n and uses key i mod k, so load spreads over coordinators and
 * keys the way independent callers would. Requests still in flight at the deadline are
 * finished and counted; elapsed time runs until the last one returns.
 */
export async function load(
  clients: number,
  durationMs: number,
  nodeUrls: readonly string[],
  apiKey: string,
  keys: readonly BenchKey[],
  tally: Tally,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const errorsBefore = tally.errors;
  const start = performance.now();
  const deadline = start + durationMs;
  const loop = async (i: number): Promise<void> => {
    const url = nodeUrls[i % nodeUrls.length]!;
    const key = keys[i % keys.length]!;
    while (performance.now() < deadline) {
      try {
        latencies.push(await signOnce(url, apiKey, key, tally));
      } catch (e) {
        tally.recordError(e);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  return { latencies, errors: tally.errors - errorsBefore, elapsedMs: performance.now() - start };
}

/**
 * Round trip through the relay between two sockets (a → relay → b → relay → a): the
 * unit cost of one protocol message exchange between nodes, for reading where a cluster
 * sign spends its time.
 */
export async function relayRoundTrips(address: string, dataDir: string, warmup: number, iterations: number): Promise<number[]> {
  const url = relayUrl(address);
  // The relay admits node ids only with their keys: the two ends are node-1 and node-2, each
  // signing its join with its own key from the cluster's data directory, in a room of their own.
  const signers = await Promise.all(['node-1', 'node-2'].map(async (id) => {
    const key = await loadOrCreateSigningKey(id, join(dataDir, id, 'signing.key'));
    return (message: Uint8Array) => key.sign(message);
  }));
  const [a, b] = await Promise.all(signers.map((signer) => RelayClient.connect(url, { signer })));
  const pair = await relayPair(a!, b!, `bench-rtt-${toHex(new Uint8Array(randomBytes(8)))}`, ['node-1', 'node-2']);
  try {
    const payload = new Uint8Array(randomBytes(256)); // about the size of a sealed FROST message
    return await pair.roundTrips(payload, warmup, iterations);
  } finally {
    await pair.close();
  }
}
