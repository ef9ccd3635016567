import { secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { sha256, shake256 } from '#protocols/platform';
import { reduceWide } from '../math/group.js';

/**
 * Every random oracle of the engine, domain-separated by a registered tag (design note
 * §4.5): H_tag = SHA-256 over a length-prefixed encoding of (tag, parts); the XOF is
 * SHAKE256 over the same encoding. Length prefixes make the encoding injective, so no
 * two different inputs of one oracle (or of two oracles) hash the same bytes.
 */
export const TAGS = Object.freeze({
  dkgSid: 'tandem/dkls23/v1/dkg-sid',
  signSid: 'tandem/dkls23/v1/sign-sid',
  mulSid: 'tandem/dkls23/v1/mul-sid',
  otSid: 'tandem/dkls23/v1/ot-sid',
  commit: 'tandem/dkls23/v1/commit',
  schnorr: 'tandem/dkls23/v1/schnorr-proof',
  zero: 'tandem/dkls23/v1/zero-share',
  chainCode: 'tandem/dkls23/v1/chain-code',
  dkgEcho: 'tandem/dkls23/v1/dkg-echo',
  baseOtH0: 'tandem/dkls23/v1/base-ot-h0',
  baseOtH1: 'tandem/dkls23/v1/base-ot-h1',
  baseOtKey: 'tandem/dkls23/v1/base-ot-key',
  pprfPrg: 'tandem/dkls23/v1/pprf-prg',
  pprfLeafHash: 'tandem/dkls23/v1/pprf-leaf-hash',
  pprfProof: 'tandem/dkls23/v1/pprf-proof',
  oteExpand: 'tandem/dkls23/v1/ote-expand',
  oteChallenge: 'tandem/dkls23/v1/ote-challenge',
  oteOutput: 'tandem/dkls23/v1/ote-output',
  gadget: 'tandem/dkls23/v1/rvole-gadget',
  theta: 'tandem/dkls23/v1/rvole-theta',
  mu: 'tandem/dkls23/v1/rvole-mu',
} as const);
export type Tag = (typeof TAGS)[keyof typeof TAGS];

export type Part = Uint8Array | string | number;

const utf8 = new TextEncoder();

/** The oracle input as one buffer: (8-byte big-endian length ‖ bytes) for the tag and each part. */
export function encodeOracleInput(tag: Tag, parts: readonly Part[]): Uint8Array {
  const bodies = [utf8.encode(tag), ...parts.map(partBytes)];
  const out = new Uint8Array(bodies.reduce((n, b) => n + 8 + b.length, 0));
  const view = new DataView(out.buffer);
  let o = 0;
  for (const b of bodies) {
    view.setBigUint64(o, BigInt(b.length));
    out.set(b, o + 8);
    o += 8 + b.length;
  }
  return out;
}

function partBytes(p: Part): Uint8Array {
  if (typeof p === 'string') return utf8.encode(p);
  if (typeof p === 'number') {
    if (!Number.isSafeInteger(p) || p < 0) throw new Error('oracle: numbers must be non-negative safe integers');
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(p));
    return b;
  }
  return p;
}

// The encoded input is a copy that may hold secret parts (seeds, keys): wiped once hashed.
export function hash(tag: Tag, ...parts: Part[]): Uint8Array {
  const input = encodeOracleInput(tag, parts);
  try {
    return sha256(input);
  } finally {
    input.fill(0);
  }
}

export function xof(tag: Tag, outputLength: number, ...parts: Part[]): Uint8Array {
  const input = encodeOracleInput(tag, parts);
  try {
    return shake256(input, outputLength);
  } finally {
    input.fill(0);
  }
}

/** 48 XOF bytes reduced mod q: bias below 2^-128. */
export function hashToScalar(tag: Tag, ...parts: Part[]): bigint {
  const wide = xof(tag, 48, ...parts);
  try {
    return reduceWide(wide);
  } finally {
    wide.fill(0);
  }
}

/** RFC 9380 secp256k1_XMD:SHA-256_SSWU_RO_ with a Tandem DST per tag: nobody knows its discrete log. */
export function hashToCurve(tag: Tag, ...parts: Part[]) {
  return secp256k1_hasher.hashToCurve(encodeOracleInput(tag, parts), { DST: `${tag}/secp256k1_XMD:SHA-256_SSWU_RO_` });
}
