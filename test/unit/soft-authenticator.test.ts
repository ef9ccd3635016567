import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCBOR } from '@levischuck/tiny-cbor';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import { SoftAuthenticator, type AuthenticationResponseJSON, type RegistrationResponseJSON } from '../helpers/soft-authenticator.js';

const ORIGIN = 'https://tandem.example';
const RP_ID = 'tandem.example';
const EVIL = 'https://tandem-example.evil';

// The SDK ships JSON.stringify(result) to the relay, so verify what survives that trip.
const wire = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** simplewebauthn throws on most mismatches but returns verified:false on a bad signature. */
async function assertNotVerified(p: Promise<{ verified: boolean }>): Promise<void> {
  const r = await p.catch(() => ({ verified: false }));
  assert.equal(r.verified, false);
}

async function register(auth: SoftAuthenticator, userName = 'alice') {
  const options = await generateRegistrationOptions({ rpName: 'Tandem', rpID: RP_ID, userName, attestationType: 'none' });
  const response = wire(await auth.create({ publicKey: options }));
  const reg = await verifyRegistrationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, requireUserVerification: true });
  assert.ok(reg.verified);
  return { options, response, info: reg.registrationInfo };
}

const verifyAuth = (response: AuthenticationResponseJSON, expectedChallenge: string, credential: WebAuthnCredential, requireUserVerification = true) =>
  verifyAuthenticationResponse({ response: wire(response), expectedChallenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, credential, requireUserVerification });

describe('SoftAuthenticator against @simplewebauthn/server', () => {
  test('registration verifies with fmt none, UV, ES256; wire format is unpadded base64url', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const { options, response, info } = await register(auth);
    assert.equal(info.fmt, 'none');
    assert.equal(info.userVerified, true);
    assert.equal(info.credential.id, response.id);
    assert.equal(info.credentialDeviceType, 'multiDevice');
    assert.equal(info.aaguid, '00000000-0000-0000-0000-000000000000');

    assert.deepEqual(Object.keys(response).sort(), ['authenticatorAttachment', 'clientExtensionResults', 'id', 'rawId', 'response', 'type']);
    assert.equal(response.type, 'public-key');
    assert.equal(response.authenticatorAttachment, 'platform');
    assert.deepEqual(response.response.transports, ['internal']);
    for (const s of [response.id, response.rawId, response.response.clientDataJSON, response.response.attestationObject]) assert.match(s, /^[A-Za-z0-9_-]+$/);

    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString());
    assert.deepEqual(clientData, { type: 'webauthn.create', challenge: options.challenge, origin: ORIGIN, crossOrigin: false });
    // tiny-cbor's decoder accepts a plain Uint8Array, not a Buffer subclass.
    const att = decodeCBOR(new Uint8Array(Buffer.from(response.response.attestationObject, 'base64url'))) as Map<string, unknown>;
    assert.equal(att.get('fmt'), 'none');
    assert.equal((att.get('attStmt') as Map<string, unknown>).size, 0);

    assert.deepEqual(auth.credentials.map((c) => [c.id, c.rpId, c.userHandle, c.signCount]), [[response.id, RP_ID, options.user.id, 0]]);
    assert.deepEqual(auth.credentials[0]!.publicKey, info.credential.publicKey);
  });

  test('authentication verifies with the registered key and the counter increases', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const { options: regOpts, info } = await register(auth);
    let counter = info.credential.counter;
    for (let i = 0; i < 2; i++) {
      const opts = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: info.credential.id }], userVerification: 'required' });
      const response = await auth.sign({ publicKey: opts });
      assert.equal(response.response.userHandle, regOpts.user.id);
      const r = await verifyAuth(response, opts.challenge, { ...info.credential, counter });
      assert.ok(r.verified);
      assert.equal(r.authenticationInfo.userVerified, true);
      assert.ok(r.authenticationInfo.newCounter > counter);
      counter = r.authenticationInfo.newCounter;
    }
    assert.equal(auth.credentials[0]!.signCount, 2);
  });

  test('empty allowCredentials uses a discoverable credential for the rpId; assert() picks by id', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const alice = await register(auth, 'alice');
    const bob = await register(auth, 'bob');
    const opts = await generateAuthenticationOptions({ rpID: RP_ID });
    const response = await auth.sign({ publicKey: opts });
    assert.equal(response.id, bob.response.id, 'most recent credential');
    assert.ok((await verifyAuth(response, opts.challenge, bob.info.credential)).verified);

    const direct = auth.assert(opts.challenge, RP_ID, { credentialId: alice.response.id });
    assert.equal(direct.response.userHandle, alice.options.user.id);
    assert.ok((await verifyAuth(direct, opts.challenge, alice.info.credential)).verified);
  });

  test('sign-count can stay 0 like a synced passkey', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN, incrementSignCount: false });
    const { info } = await register(auth);
    const opts = await generateAuthenticationOptions({ rpID: RP_ID });
    const r = await verifyAuth(await auth.sign({ publicKey: opts }), opts.challenge, info.credential);
    assert.ok(r.verified);
    assert.equal(r.authenticationInfo.newCounter, 0);
  });
});

describe('SoftAuthenticator negatives are caught by the verifier', () => {
  test('wrong origin (phishing page) fails registration and authentication', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const { info } = await register(auth);
    const phish = auth.withOrigin(EVIL);

    const regOpts = await generateRegistrationOptions({ rpName: 'Tandem', rpID: RP_ID, userName: 'mallory' });
    const reg = wire(await phish.create({ publicKey: regOpts }));
    await assertNotVerified(verifyRegistrationResponse({ response: reg, expectedChallenge: regOpts.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID }));

    // The view shares the device: same credential, same counter.
    const opts = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: info.credential.id }] });
    const response = await phish.sign({ publicKey: opts });
    assert.equal(response.id, info.credential.id);
    await assertNotVerified(verifyAuth(response, opts.challenge, info.credential));
    await assertNotVerified(verifyAuth(auth.assert(opts.challenge, RP_ID, { origin: EVIL }), opts.challenge, info.credential));
  });

  test('tampered challenge fails: answering another challenge, or editing clientDataJSON after signing', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const { info } = await register(auth);
    const opts = await generateAuthenticationOptions({ rpID: RP_ID });
    const other = Buffer.from('not the server challenge').toString('base64url');
    await assertNotVerified(verifyAuth(auth.assert(other, RP_ID), opts.challenge, info.credential));

    const signed = auth.assert(other, RP_ID);
    const clientData = JSON.parse(Buffer.from(signed.response.clientDataJSON, 'base64url').toString());
    const forged: AuthenticationResponseJSON = {
      ...signed,
      response: { ...signed.response, clientDataJSON: Buffer.from(JSON.stringify({ ...clientData, challenge: opts.challenge })).toString('base64url') },
    };
    await assertNotVerified(verifyAuth(forged, opts.challenge, info.credential));
  });

  test('wrong ceremony type fails', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const { info } = await register(auth);
    const opts = await generateAuthenticationOptions({ rpID: RP_ID });
    await assertNotVerified(verifyAuth(auth.assert(opts.challenge, RP_ID, { type: 'webauthn.create' }), opts.challenge, info.credential));
  });

  test('userVerified: false fails when the RP requires UV, and passes when it does not', async () => {
    const good = new SoftAuthenticator({ origin: ORIGIN });
    const { info } = await register(good);
    const noUv = new SoftAuthenticator({ origin: ORIGIN, userVerified: false });

    const regOpts = await generateRegistrationOptions({ rpName: 'Tandem', rpID: RP_ID, userName: 'bob' });
    const reg: RegistrationResponseJSON = wire(await noUv.create({ publicKey: regOpts }));
    const regArgs = { response: reg, expectedChallenge: regOpts.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID };
    await assertNotVerified(verifyRegistrationResponse({ ...regArgs, requireUserVerification: true }));
    const lax = await verifyRegistrationResponse({ ...regArgs, requireUserVerification: false });
    assert.ok(lax.verified);
    assert.equal(lax.registrationInfo.userVerified, false);

    good.userVerified = false;
    const opts = await generateAuthenticationOptions({ rpID: RP_ID });
    const response = await good.sign({ publicKey: opts });
    await assertNotVerified(verifyAuth(response, opts.challenge, info.credential, true));
  });
});

describe('SoftAuthenticator client-side errors', () => {
  test('header name, string payloads, unknown credentials, excludeCredentials, algorithms', async () => {
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    assert.equal(auth.getHeaderName(), 'X-Encrypted-WebAuthn-Signature');
    await assert.rejects(auth.sign('encrypted-user-string'), /cannot sign an arbitrary payload/);
    const opts = await generateAuthenticationOptions({ rpID: RP_ID });
    await assert.rejects(auth.sign({ publicKey: opts }), /NotAllowedError/);

    const { response } = await register(auth);
    const unknown = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: 'AAAAAAAAAAAAAAAAAAAAAA' }] });
    await assert.rejects(auth.sign({ publicKey: unknown }), /NotAllowedError/);
    await assert.rejects(auth.sign({ publicKey: { ...opts, rpId: 'other.example' } }), /NotAllowedError/);
    assert.throws(() => auth.assert(opts.challenge, RP_ID, { credentialId: 'AAAAAAAAAAAAAAAAAAAAAA' }), /NotAllowedError/);

    const again = await generateRegistrationOptions({ rpName: 'Tandem', rpID: RP_ID, userName: 'alice', excludeCredentials: [{ id: response.id }] });
    await assert.rejects(auth.create({ publicKey: again }), /InvalidStateError/);
    const rsaOnly = await generateRegistrationOptions({ rpName: 'Tandem', rpID: RP_ID, userName: 'carol', supportedAlgorithmIDs: [-257] });
    await assert.rejects(auth.create({ publicKey: rsaOnly }), /NotSupportedError/);
  });
});
