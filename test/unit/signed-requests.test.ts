import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { generateKeyPairSync, sign as nodeSign, createPrivateKey } from 'node:crypto';
import { ProtocolError } from '../../src/protocols/errors.js';
import { asPartyId } from '../../src/core/ids.js';
import { parseRequestPublicKey, parseSignatureHeader, signRequest, verifyRequestSignature, signingString } from '../../src/api/request-signature.js';
import { checkInvitationMatches, encodeEnvelope } from '../../src/node/signed-requests.js';

/**
 * The signed-request format against Node's own crypto (OpenSSL), and the check that
 * keeps a coordinator from running another operation under a user's signed request.
 */
const USER = 'ab'.repeat(16);
const coordinator = asPartyId('node-1');

describe('request signatures', () => {
  test('Ed25519 and P-256 signatures made by Node crypto verify; another body or path does not', () => {
    for (const type of ['ed25519', 'p256'] as const) {
      const { privateKey, publicKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const raw = type === 'ed25519' ? publicKey.export({ format: 'der', type: 'spki' }).subarray(-32) : publicKey.export({ format: 'der', type: 'spki' }).subarray(-65);
      const key = parseRequestPublicKey(type, raw.toString('hex'))!;
      const req = { method: 'POST', path: '/ecdsa/sign', body: '{"key_id":"k","msg":"00"}' };
      const ts = Date.now();
      const nonce = '0f'.repeat(16);
      const msg = signingString(req.method, req.path, req.body, ts, nonce);
      // OpenSSL: Ed25519 pure, ECDSA P-256 with SHA-256 in IEEE P1363 (r|s) form.
      const sig = type === 'ed25519' ? nodeSign(null, msg, privateKey) : nodeSign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const header = `Tandem-Signature user=${USER},ts=${ts},nonce=${nonce},sig=${sig.toString('base64url')}`;
      const h = parseSignatureHeader(header)!;
      assert.ok(verifyRequestSignature(key, h, req), type);
      assert.equal(verifyRequestSignature(key, h, { ...req, body: req.body.replace('00', '01') }), false);
      assert.equal(verifyRequestSignature(key, h, { ...req, path: '/bip340/sign' }), false);
    }
  });

  test('signRequest output verifies with Node crypto', () => {
    const sk = ed25519.utils.randomSecretKey();
    const header = signRequest({ type: 'ed25519', privateKey: sk }, USER, { method: 'GET', path: '/ecdsa/public-key/x', body: '' });
    const h = parseSignatureHeader(header)!;
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(sk)]);
    const pub = ed25519.getPublicKey(sk);
    assert.ok(verifyRequestSignature({ type: 'ed25519', publicKey: pub }, h, { method: 'GET', path: '/ecdsa/public-key/x', body: '' }));
    const again = nodeSign(null, signingString('GET', '/ecdsa/public-key/x', '', h.ts, h.nonce), createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    assert.deepEqual(Buffer.from(h.sig), again, 'Ed25519 is deterministic: the same bytes as OpenSSL');
  });

  test('malformed headers and keys are refused', () => {
    assert.equal(parseSignatureHeader('Bearer x'), undefined);
    assert.equal(parseSignatureHeader(`Tandem-Signature user=${USER},ts=abc,nonce=${'0'.repeat(32)},sig=${'A'.repeat(86)}`), undefined);
    assert.equal(parseRequestPublicKey('ed25519', '00'.repeat(31)), undefined);
    assert.equal(parseRequestPublicKey('rsa', '00'.repeat(32)), undefined);
    assert.equal(parseRequestPublicKey('p256', '04' + '00'.repeat(64)), undefined, 'not on the curve');
    assert.ok(parseRequestPublicKey('p256', Buffer.from(p256.getPublicKey(p256.utils.randomSecretKey())).toString('hex')));
  });
});

describe('an invitation must be the operation the user signed', () => {
  const envelope = (path: string, body: unknown) => encodeEnvelope({ method: 'POST', path, body: JSON.stringify(body), authorization: 'Tandem-Signature …' });
  const signBody = { key_id: 'k1', msg: ['aa', 'bb', 'cc'], derivation_path: 'm/0/7', extra_data: 'ee' };
  const cred = envelope('/ecdsa/sign', signBody);
  const op = { kind: 'sign' as const, family: 'ecdsa', keyId: 'k1', msgs: ['aa', 'bb', 'cc'], path: [0, 7], extraData: 'ee' };
  const refused = (o: Parameters<typeof checkInvitationMatches>[1], c = cred) =>
    assert.throws(() => checkInvitationMatches(c, o, coordinator), (e: unknown) => e instanceof ProtocolError && e.culprit === coordinator);

  test('the same operation (exactly its messages, in order) passes', () => {
    checkInvitationMatches(cred, op, coordinator);
    checkInvitationMatches(envelope('/ecdsa/keygen', { num_parties: 3, threshold: 2 }), { kind: 'keygen', family: 'ecdsa', n: 3, t: 2 }, coordinator);
    checkInvitationMatches('tdm_bearer_key', { ...op, msgs: ['ff'] }, coordinator); // a bearer key binds nothing
  });

  test('another message, key, path, extra data, family or kind names the coordinator', () => {
    refused({ ...op, msgs: ['ff'] });
    refused({ ...op, msgs: ['aa', 'cc'] });
    // One request is one ceremony: a part of its batch, or more than it, is another operation.
    refused({ ...op, msgs: ['bb', 'cc'] });
    refused({ ...op, msgs: ['aa', 'bb'] });
    refused({ ...op, msgs: ['aa', 'bb', 'cc', 'cc'] });
    refused({ ...op, msgs: ['cc', 'bb', 'aa'] });
    refused({ ...op, keyId: 'k2' });
    refused({ ...op, path: [0, 8] });
    refused({ ...op, extraData: '' });
    refused({ ...op, family: 'bip340' });
    refused({ kind: 'keygen', family: 'ecdsa', n: 3, t: 2 });
    refused({ kind: 'keygen', family: 'ecdsa', n: 3, t: 3 }, envelope('/ecdsa/keygen', { num_parties: 3, threshold: 2 }));
  });
});
