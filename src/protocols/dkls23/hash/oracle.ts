import { createHash } from 'node:crypto';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';

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

function encode(tag: Tag, parts: readonly Part[]): Buffer[] {
  const out: Buffer[] = [];
  const push = (b: Buffer) => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(b.length));
    out.push(len, b);
  };
  push(Buffer.from(tag, 'utf8'));
  for (const p of parts) {
    if (typeof p === 'string') push(Buffer.from(p, 'utf8'));
    else if (typeof p === 'number') {
      if (!Number.isSafeInteger(p) || p < 0) throw new Error('oracle: numbers must be non-negative safe integers');
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(p));
      push(b);
    } else push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  }
  return out;
}

export function hash(tag: Tag, ...parts: Part[]): Uint8Array {
  const h = createHash('sha256');
  for (const b of encode(tag, parts)) h.update(b);
  return new Uint8Array(h.digest());
}

export function xof(tag: Tag, outputLength: number, ...parts: Part[]): Uint8Array {
  const h = createHash('shake256', { outputLength });
  for (const b of encode(tag, parts)) h.update(b);
  return new Uint8Array(h.digest());
}

const Fn = secp256k1.Point.Fn;

/** 48 XOF bytes reduced mod q: bias below 2^-128. */
export function hashToScalar(tag: Tag, ...parts: Part[]): bigint {
  const wide = xof(tag, 48, ...parts);
  let x = 0n;
  for (const byte of wide) x = (x << 8n) | BigInt(byte);
  return Fn.create(x);
}

/** RFC 9380 secp256k1_XMD:SHA-256_SSWU_RO_ with a Tandem DST per tag: nobody knows its discrete log. */
export function hashToCurve(tag: Tag, ...parts: Part[]) {
  const msg = Buffer.concat(encode(tag, parts));
  return secp256k1_hasher.hashToCurve(msg, { DST: `${tag}/secp256k1_XMD:SHA-256_SSWU_RO_` });
}
