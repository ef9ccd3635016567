import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { DeviceParty, generateDeviceIdentity, MemoryShareStore } from '../src/sdk/device/index.js';
import { TandemNodeClient } from '../src/sdk/index.js';
import { fromHex, toHex } from '../src/core/hex.js';
import type { BenchKey, Family, Tally } from './cluster-bench.js';
import { ed25519KeyObject, ethAddress } from './verify.js';

/**
 * A device party (the SDK's DeviceParty, in this process) holding one share of a 2-of-2 key
 * with a node: each operation creates a room, joins it on the relay and runs the protocol
 * with the node it calls. Every signature is checked like the cluster's (verify.ts).
 */
export interface DeviceResults {
  keygenMs: number;
  samples: number[];
}

const PUBLIC_KEY_BYTES: Record<Family, number> = { bip340: 32, ed25519: 32, ecdsa: 33 };

export async function benchDeviceParty(urls: readonly string[], adminKey: string, family: Family, runs: number, tally: Tally): Promise<DeviceResults> {
  const admin = new TandemNodeClient({ nodes: [...urls], credential: { apiKey: adminKey } });
  const { api_key } = await admin.createUser();
  const client = new TandemNodeClient({ nodes: [...urls], credential: { apiKey: api_key } });
  const party = new DeviceParty({ client, identity: generateDeviceIdentity(`bench-${family}`), store: new MemoryShareStore(), WebSocket });
  const k0 = performance.now();
  const made = await party.keygen(family, { num_parties: 2, threshold: 2 });
  const keygenMs = performance.now() - k0;
  const key: BenchKey = { family, keyId: made.key_id, publicKey: fromHex(made.public_key, PUBLIC_KEY_BYTES[family]) };
  if (family === 'ed25519') key.keyObject = ed25519KeyObject(key.publicKey);
  if (family === 'ecdsa') key.address = ethAddress(key.publicKey);
  const samples: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const msg = randomBytes(32);
    const t0 = performance.now();
    try {
      const res = (await party.sign(family, { key_id: key.keyId, msg: toHex(msg) })) as { signature: string; recovery_id?: number };
      const ms = performance.now() - t0;
      tally.check(msg, key, res);
      if (i >= 3) samples.push(ms); // the first three warm up
    } catch (e) {
      tally.recordError(e);
    }
  }
  return { keygenMs, samples };
}
