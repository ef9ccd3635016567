import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  parseAdminSignatureHeader,
  parseRequestPublicKey,
  parseSignatureHeader,
  signAdminRequest,
  signingString,
  signRequest,
  verifyRequestSignature,
  type RequestKeyType,
} from '../../src/api/request-signature.js';
import { authorizationHeader } from '../../src/sdk/auth.js';

/**
 * Signed-request known answers (test/vectors/signed-requests.json, computed outside Tandem
 * with Python's cryptography package): the canonical text, the signature and the header for
 * fixed keys, body, timestamp and nonce; Node's crypto.verify accepts every signature, and
 * every refused variant fails verification.
 */
interface Key {
  type: RequestKeyType;
  privateKey: string;
  publicKey: string;
}
interface Case {
  name: string;
  key: 'user' | 'admin' | 'userP256';
  admin: boolean;
  domain: string;
  method: string;
  path: string;
  body: string;
  ts: number;
  nonce: string;
  bodySha256: string;
  canonical: string;
  canonicalSha256: string;
  signature: string;
  header: string;
}
interface Vectors {
  about: string;
  userId: string;
  keys: Record<Case['key'], Key>;
  cases: Case[];
  refused: Array<{ name: string; case: number; as: Partial<Pick<Case, 'admin' | 'method' | 'path' | 'body' | 'ts' | 'nonce' | 'key'>> }>;
}

const v = JSON.parse(readFileSync(new URL('../../../test/vectors/signed-requests.json', import.meta.url), 'utf8')) as Vectors;
const unhex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const privateOf = (k: Key) => ({ type: k.type, privateKey: unhex(k.privateKey) });
const publicOf = (k: Key) => parseRequestPublicKey(k.type, k.publicKey)!;
const parse = (c: { admin: boolean; header: string }) => (c.admin ? parseAdminSignatureHeader(c.header) : parseSignatureHeader(c.header));

/** Node's own key object for a recorded public key (SPKI DER built by hand). */
function nodePublicKey(k: Key): KeyObject {
  if (k.type === 'ed25519') return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), unhex(k.publicKey)]), format: 'der', type: 'spki' });
  // P-256: an SPKI with the 33-byte compressed point, which OpenSSL decompresses itself.
  return createPublicKey({ key: Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), unhex(k.publicKey)]), format: 'der', type: 'spki' });
}

describe('signed requests: known answers', () => {
  for (const c of v.cases) {
    test(c.name, () => {
      const key = v.keys[c.key];
      assert.equal(sha256(Buffer.from(c.body, 'utf8')), c.bodySha256);
      const text = signingString(c.method, c.path, c.body, c.ts, c.nonce, c.domain);
      assert.equal(Buffer.from(text).toString('utf8'), c.canonical);
      assert.equal(sha256(text), c.canonicalSha256);
      if (!c.admin) assert.deepEqual(signingString(c.method, c.path, c.body, c.ts, c.nonce), text, 'the user domain is the default');

      // Node's crypto (OpenSSL) accepts the recorded signature over the canonical text.
      const ok = key.type === 'ed25519'
        ? nodeVerify(null, Buffer.from(c.canonical, 'utf8'), nodePublicKey(key), unhex(c.signature))
        : nodeVerify('sha256', Buffer.from(c.canonical, 'utf8'), { key: nodePublicKey(key), dsaEncoding: 'ieee-p1363' }, unhex(c.signature));
      assert.ok(ok, 'Node crypto.verify');

      // Our signer gives the recorded header byte for byte (Ed25519 and RFC 6979 are deterministic).
      const req = { method: c.method, path: c.path, body: c.body };
      const header = c.admin ? signAdminRequest(privateOf(key), req, c.ts, c.nonce) : signRequest(privateOf(key), v.userId, req, c.ts, c.nonce);
      assert.equal(header, c.header);

      const h = parse(c);
      assert.ok(h, 'the header parses');
      assert.equal(h.admin, c.admin);
      assert.equal(h.user, c.admin ? '' : v.userId);
      assert.equal(h.ts, c.ts);
      assert.equal(h.nonce, c.nonce);
      assert.equal(Buffer.from(h.sig).toString('hex'), c.signature);
      assert.ok(verifyRequestSignature(publicOf(key), h, req));
      // The other kind of header never parses it.
      assert.equal(c.admin ? parseSignatureHeader(c.header) : parseAdminSignatureHeader(c.header), undefined);
    });
  }

  test('the SDK (authorizationHeader) gives the recorded headers when its clock and nonce source are fixed', (t) => {
    for (const c of v.cases) {
      const key = privateOf(v.keys[c.key]);
      t.mock.method(Date, 'now', () => c.ts);
      t.mock.method(globalThis.crypto, 'getRandomValues', <T extends ArrayBufferView | null>(a: T): T => {
        (a as unknown as Uint8Array).set(unhex(c.nonce));
        return a;
      });
      try {
        const credential = c.admin ? { adminKey: key } : { userId: v.userId, key };
        assert.equal(authorizationHeader(credential, { method: c.method, path: c.path, body: c.body }), c.header, c.name);
      } finally {
        t.mock.restoreAll();
      }
    }
  });
});

describe('signed requests: refused variants', () => {
  for (const r of v.refused) {
    test(`${r.name} (from "${v.cases[r.case]!.name}")`, () => {
      const c = v.cases[r.case]!;
      const h = parse(c)!;
      const req = { method: r.as.method ?? c.method, path: r.as.path ?? c.path, body: r.as.body ?? c.body };
      const header = { ...h, admin: r.as.admin ?? h.admin, ts: r.as.ts ?? h.ts, nonce: r.as.nonce ?? h.nonce };
      const key = publicOf(v.keys[r.as.key ?? c.key]);
      // The unchanged request verifies: only the one change makes it fail.
      assert.ok(verifyRequestSignature(publicOf(v.keys[c.key]), h, { method: c.method, path: c.path, body: c.body }));
      assert.equal(verifyRequestSignature(key, header, req), false);
      // And Node agrees: the signature is not one over the variant's canonical text.
      const text = signingString(req.method, req.path, req.body, header.ts, header.nonce, header.admin ? 'tandem-admin-request/v1' : 'tandem-request/v1');
      const k = v.keys[r.as.key ?? c.key];
      const ok = k.type === 'ed25519'
        ? nodeVerify(null, text, nodePublicKey(k), h.sig)
        : nodeVerify('sha256', text, { key: nodePublicKey(k), dsaEncoding: 'ieee-p1363' }, h.sig);
      assert.equal(ok, false);
    });
  }
});
