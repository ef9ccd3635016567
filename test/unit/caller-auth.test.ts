import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hashApiKey, newAdminKey, newApiKey, newUserId } from '../../src/api/api-keys.js';
import { adminPublicKeyFrom, CallerAuth, signedRequirementFrom, type SignedRequirement } from '../../src/node/caller-auth.js';
import { adminEvidence, encodeAdminEnvelope, userEvidence } from '../../src/node/caller-evidence.js';
import { encodeEnvelope, SignedRequestVerifier } from '../../src/node/signed-requests.js';
import { TandemError } from '../../src/core/errors.js';
import { toHex } from '../../src/core/hex.js';
import { signAdminRequest, signRequest } from '../../src/api/request-signature.js';
import { openEmbeddedStore } from '../../src/storage/open-node-store.js';
import { RequestAuthStore } from '../../src/storage/request-auth-store.js';
import type { SqlNodeStore } from '../../src/storage/sql-store.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * What a node takes as evidence of a caller: at its own HTTP edge, and in an invitation
 * from a peer (issue 12, findings 1 and 2). Real embedded storage; every refusal is the
 * seed's access_denied.
 */
const denied = (re: RegExp) => (e: unknown) => e instanceof TandemError && e.type === 'access_denied' && re.test(e.message);

describe('CallerAuth: bearer keys at the edge only, signatures or a vouch from peers', () => {
  let dir: string;
  let store: SqlNodeStore;
  let keys: RequestAuthStore;
  const adminKey = newAdminKey();
  const admin = { type: 'ed25519' as const, privateKey: ed25519.utils.randomSecretKey() };
  const plain = newUserId();
  const plainKey = newApiKey(plain);
  const signer = newUserId();
  const signerKey = newApiKey(signer);
  const signerPrivate = ed25519.utils.randomSecretKey();

  const auth = (requirement: SignedRequirement = { all: false, users: new Set() }, pinned = true) =>
    new CallerAuth(store, keys, new SignedRequestVerifier(store, keys, pinned ? { type: 'ed25519', publicKey: ed25519.getPublicKey(admin.privateKey) } : undefined), hashApiKey(adminKey), requirement);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-caller-auth-'));
    await seedPglite(join(dir, 'db', 'db'));
    store = await openEmbeddedStore(join(dir, 'db'));
    keys = new RequestAuthStore(store.client);
    for (const [userId, key] of [[plain, plainKey], [signer, signerKey]] as const) await store.insertUser({ userId, apiKeyHash: hashApiKey(key), createdAt: new Date() });
    await keys.setKey(signer, 'ed25519', ed25519.getPublicKey(signerPrivate));
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const signedSign = (keyId: string) => {
    const req = { method: 'POST', path: '/ecdsa/sign', body: JSON.stringify({ key_id: keyId, msg: '00'.repeat(32) }) };
    return encodeEnvelope({ ...req, authorization: signRequest({ type: 'ed25519', privateKey: signerPrivate }, signer, req) });
  };

  test('a coordinator forwards a signed request as it came, and only a vouch (the user id) for an API key', async () => {
    const a = auth();
    const user = await a.user(plainKey);
    const vouch = userEvidence(plainKey, user);
    assert.deepEqual(JSON.parse(vouch), { vouched_user: plain });
    // The secret is base64url (it may hold '_'): all of it after the user id.
    assert.ok(!vouch.includes(plainKey.slice(`tdm_${plain}_`.length)));
    const signed = signedSign('k1');
    assert.equal(userEvidence(signed, await a.user(signed, true)), signed);
    assert.deepEqual(JSON.parse(adminEvidence(adminKey)), { vouched_admin: true });
  });

  test("a peer's vouch is taken for a user without a request key, never for one with a key", async () => {
    const a = auth();
    assert.equal((await a.invitedUser(JSON.stringify({ vouched_user: plain }))).userId, plain);
    await assert.rejects(a.invitedUser(JSON.stringify({ vouched_user: signer })), denied(/request-signing key/));
    await assert.rejects(a.invitedUser(JSON.stringify({ vouched_user: newUserId() })), denied(/does not have/));
  });

  test('a bearer key forwarded by a peer is no evidence', async () => {
    await assert.rejects(auth().invitedUser(plainKey), denied(/no evidence/));
    await assert.rejects(auth(undefined, false).invitedAdmin(adminKey), denied(/no evidence/));
  });

  test('a signed request is spent by a participant once', async () => {
    const a = auth();
    const signed = signedSign('k2');
    assert.equal((await a.invitedUser(signed)).userId, signer);
    await assert.rejects(a.invitedUser(signed), denied(/already used/));
  });

  test('TANDEM_REQUIRE_SIGNED_REQUESTS: a listed user (or all) is refused on an API key and on a vouch', async () => {
    const listed = auth(signedRequirementFrom(plain));
    await assert.rejects(listed.user(plainKey), denied(/only signed/));
    await assert.rejects(listed.invitedUser(JSON.stringify({ vouched_user: plain })), denied(/only signed/));
    const all = auth(signedRequirementFrom('1'));
    await assert.rejects(all.user(plainKey), denied(/only signed/));
    assert.equal((await all.user(signedSign('k3'), true)).userId, signer);
    assert.equal((await auth(signedRequirementFrom('0')).user(plainKey)).userId, plain);
    assert.throws(() => signedRequirementFrom('alice'), /TANDEM_REQUIRE_SIGNED_REQUESTS/);
  });

  test("admin: this node's own key or the admin's signature at the edge; from a peer the signature, or the vouch only without a pinned key", async () => {
    const body = JSON.stringify({});
    const envelope = () => {
      const req = { method: 'POST', path: '/admin/create-user', body };
      return encodeAdminEnvelope({ ...req, authorization: signAdminRequest(admin, req) });
    };
    const pinned = auth();
    await pinned.admin(adminKey);
    await assert.rejects(pinned.admin(plainKey), (e: unknown) => e instanceof TandemError && e.type === 'you_have_to_be_admin');
    await pinned.admin(envelope(), true);
    const fromPeer = envelope();
    assert.deepEqual(await pinned.invitedAdmin(fromPeer), JSON.parse(fromPeer).admin_request);
    await assert.rejects(pinned.invitedAdmin(fromPeer), denied(/already used/));
    await assert.rejects(pinned.invitedAdmin(JSON.stringify({ vouched_admin: true })), denied(/TANDEM_ADMIN_PUBLIC_KEY is set/));

    const unpinned = auth(undefined, false);
    assert.equal(await unpinned.invitedAdmin(JSON.stringify({ vouched_admin: true })), undefined);
    await assert.rejects(unpinned.invitedAdmin(envelope()), denied(/no admin public key/));

    // A user's signature never passes as the admin's, even over the same bytes with the same key.
    const req = { method: 'POST', path: '/admin/create-user', body };
    const userSig = signRequest(admin, signer, req).replace(/^Tandem-Signature user=[0-9a-f]+,/, 'Tandem-Admin-Signature ');
    await assert.rejects(pinned.admin(encodeAdminEnvelope({ ...req, authorization: userSig }), true), denied(/does not verify/));
  });

  test('TANDEM_ADMIN_PUBLIC_KEY parses ed25519:<hex> and p256:<hex> only', () => {
    const pub = toHex(ed25519.getPublicKey(admin.privateKey));
    assert.equal(adminPublicKeyFrom(`ed25519:${pub}`)?.type, 'ed25519');
    assert.equal(adminPublicKeyFrom(''), undefined);
    assert.throws(() => adminPublicKeyFrom(pub), /TANDEM_ADMIN_PUBLIC_KEY/);
    assert.throws(() => adminPublicKeyFrom('ed25519:zz'), /TANDEM_ADMIN_PUBLIC_KEY/);
  });
});
