import { DeviceParty, generateDeviceIdentity, MemoryShareStore } from '../../src/sdk/device/index.js';
import { generateRequestKey, TandemNodeClient, type RequestKey } from '../../src/sdk/index.js';
import type { KeyFamily } from '../../src/sdk/types.js';

/**
 * The page script of test/integration/device-party-browser.test.ts: bundled by esbuild for
 * the browser (no Node built-ins), loaded in Chromium, and driven by the test through
 * `globalThis.tandemDevice`. The device's request-signing key is made here and never leaves
 * the page; only its public key goes to the test, which registers the user with the admin key.
 */
export interface DeviceRun {
  /** The nodes' URLs as the page reaches them (through the test's same-origin proxy). */
  nodes: string[];
  userId: string;
  family: KeyFamily;
  numParties: number;
  threshold: number;
  /** Hex messages (32-byte hashes for ecdsa and bip340). */
  msgs: string[];
}

export interface DeviceRunResult {
  keyId: string;
  publicKey: string;
  /** The key as the nodes report it afterwards (GET public-key with the user's credential). */
  reported: { public_key: string; parties: string[] };
  signatures: Array<{ signature: string; recovery_id?: number }>;
  keygenMs: number;
  signMs: number[];
}

let requestKey: RequestKey | undefined;

const tandemDevice = {
  /** What the page has of Node: nothing, or the bundle pulled in a polyfill. */
  nodeGlobals: (): string[] => ['Buffer', 'process', 'require'].filter((g) => g in globalThis),

  newRequestKey(): string {
    const k = generateRequestKey('ed25519');
    requestKey = { type: k.type, privateKey: k.privateKey };
    return k.publicKey;
  },

  async run(r: DeviceRun): Promise<DeviceRunResult> {
    if (!requestKey) throw new Error('no request key yet');
    const client = new TandemNodeClient({ nodes: r.nodes, credential: { userId: r.userId, key: requestKey } });
    const store = new MemoryShareStore();
    // The browser's own WebSocket (the default) reaches the relay directly.
    const device = new DeviceParty({ client, identity: generateDeviceIdentity(`browser-${r.family}`), store, timeoutMs: 60_000 });
    let t0 = performance.now();
    const { key_id, public_key } = await device.keygen(r.family, { num_parties: r.numParties, threshold: r.threshold });
    const keygenMs = performance.now() - t0;
    const signatures: DeviceRunResult['signatures'] = [];
    const signMs: number[] = [];
    for (const msg of r.msgs) {
      t0 = performance.now();
      signatures.push(await device.sign(r.family, { key_id, msg }));
      signMs.push(performance.now() - t0);
    }
    const { parties, public_key: reported } = await client.publicKey(r.family, key_id);
    return { keyId: key_id, publicKey: public_key, reported: { public_key: reported, parties }, signatures, keygenMs, signMs };
  },
};

export type TandemDevicePage = typeof tandemDevice;

(globalThis as { tandemDevice?: TandemDevicePage }).tandemDevice = tandemDevice;
