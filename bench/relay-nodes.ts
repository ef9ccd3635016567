import { generateSigningKey } from '../src/policy/node-signing-key.js';

/**
 * Relays admit a party only with evidence (src/relay/admission.ts). The benchmarks' parties
 * `a` and `b` are stand-in nodes sharing one fresh key: they sign their joins, and get a
 * node's send quotas (the in-process benchmark lifts those altogether).
 */
const key = generateSigningKey('bench');
const publicKey = new Uint8Array(Buffer.from(key.publicKeyHex, 'hex'));

export const BENCH_NODES = ['a', 'b'].map((id) => ({ id, signingKey: publicKey }));
export const benchSigner = (message: Uint8Array): Uint8Array => key.sign(message);
export const benchNodesJson = (): string => JSON.stringify({ nodes: BENCH_NODES.map((n) => ({ id: n.id, signing_key: key.publicKeyHex })) });
