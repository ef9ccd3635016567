import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import * as ecc from 'tiny-secp256k1';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { SignerNodesClient } from '../../src/gateway/node-client.js';
import { TandemNodeClient } from '../../src/sdk/index.js';
import { PeerNetwork, type Invite, type NodeSession } from '../../src/node/peer-network.js';
import { RelayPool } from '../../src/relay/pool.js';
import { loadOrCreateSigningKey } from '../../src/policy/node-signing-key.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { asPartyId } from '../../src/core/ids.js';
import { signAdminRequest } from '../../src/api/request-signature.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';

/**
 * Issue 12, findings 1 and 2: what one compromised node learns from the invitations it gets.
 * Signer nodes (node-1, node-2; in this process, each with its own HTTP API) and a relay; node-3 is stopped after the
 * 2-of-3 keys are made and the test plays node-3 with its identity key: it receives every
 * invitation meant for node-3 and then coordinates ceremonies of its own toward node-2.
 *
 * On 17b7f45 an invitation carried the caller's bearer API key (the gateway's, the admin's),
 * which let node-3 sign with any of the gateway's wallet keys and act as the admin on every
 * node. Now it carries the caller's own signed request, or node-1's word (a vouch) for a
 * caller that sent a bearer key, and node-2 checks which it may accept.
 */
const admin = { type: 'ed25519' as const, privateKey: ed25519.utils.randomSecretKey() };
const N3 = asPartyId('node-3');
const N2 = asPartyId('node-2');

describe('no bearer secret travels between nodes; a compromised node gets only what each request allows', { timeout: 300_000 }, () => {
  let dataDir: string;
  let cluster: InProcessCluster;
  let node1: string;
  /** A user that authenticates with its API key (a bearer secret). */
  let bearer: { userId: string; apiKey: string; keyId: string };
  /** The gateway's way of working: its own request key, every node request signed. */
  let gateway: { userId: string; client: SignerNodesClient; keys: Array<{ keyId: string; publicKey: string }> };
  // node-3, compromised: what it was sent, and its own ceremonies.
  let pool: RelayPool;
  let evil: PeerNetwork;
  const received: Invite[] = [];

  const adminSigned = (url: string, path: string, body: unknown) => {
    const text = JSON.stringify(body);
    return api(url, 'POST', path, { key: signAdminRequest(admin, { method: 'POST', path, body: text }), raw: text });
  };

  before(async () => {
    cluster = await startInProcessCluster({
      TANDEM_ADMIN_PUBLIC_KEY: `ed25519:${toHex(ed25519.getPublicKey(admin.privateKey))}`,
      TANDEM_CEREMONY_TIMEOUT_MS: '6000',
    });
    dataDir = cluster.dataDir;
    node1 = cluster.cluster.nodes[0]!.url;

    const made = await adminSigned(node1, '/admin/create-user', {});
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const kg = await api(node1, 'POST', '/ecdsa/keygen', { key: String(made.body.api_key), body: { num_parties: 3, threshold: 2 } });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    bearer = { userId: String(made.body.user_id), apiKey: String(made.body.api_key), keyId: String(kg.body.key_id) };

    const requestKey = ed25519.utils.randomSecretKey();
    const gw = await adminSigned(node1, '/admin/create-user', { public_key: { type: 'ed25519', key: toHex(ed25519.getPublicKey(requestKey)) } });
    assert.equal(gw.status, 200, JSON.stringify(gw.body));
    const client = new SignerNodesClient({ nodes: [node1], credential: { userId: String(gw.body.user_id), requestKey } });
    const k1 = await client.keygen();

    // node-3 falls to the attacker: the node stops, its identity key is used by the test.
    await cluster.cluster.nodes[2]!.stop();
    const directory = { relays: [cluster.relayAddress], nodes: cluster.peers };
    const identity = await loadOrCreateIdentity(N3, join(dataDir, 'node-3', 'identity.key'));
    const peers = new Map(directory.nodes.filter((n) => n.id !== N3).map((n) => [asPartyId(n.id), fromHex(n.public_key, 32)]));
    // With its signing key too: the relay admits node-3's joins only with it.
    const signingKey = await loadOrCreateSigningKey('node-3', join(dataDir, 'node-3', 'signing.key'));
    pool = new RelayPool({ timeoutMs: 3000, signer: (m) => signingKey.sign(m) });
    evil = new PeerNetwork(identity, peers, directory.relays, pool, (invite, from, join) => {
      received.push(invite);
      // It plays along where the cluster needs all nodes (create-user), so the rest goes on.
      if (invite.op.type === 'create-user') void join().then((s) => s.step(from, 'created', {}), () => undefined);
    }, () => {});
    await evil.start();

    // A second key of the gateway's user, the one its signed request for the first must not
    // reach: 2-of-2 with node-2 (node-3, the attacker's now, answers no keygen invitation), so
    // node-2 holds a share of it and what refuses below is the evidence, not an unknown key. Two
    // parties: a third of a 3-party key generation's base OT.
    const credential = { userId: String(gw.body.user_id), key: { type: 'ed25519' as const, privateKey: requestKey } };
    const k2 = await new TandemNodeClient({ nodes: [node1], credential }).keygen('ecdsa', { num_parties: 2, threshold: 2 });
    const atNode2 = await new TandemNodeClient({ nodes: [cluster.cluster.nodes[1]!.url], credential }).publicKey('ecdsa', k2.key_id);
    assert.equal(atNode2.public_key, k2.public_key, 'node-2 holds a share of the second key');
    assert.deepEqual(atNode2.parties, ['node-1', 'node-2']);
    gateway = { userId: String(gw.body.user_id), client, keys: [k1, { keyId: String(k2.key_id), publicKey: String(k2.public_key) }] };
  });

  after(async () => {
    await evil?.stop();
    await pool?.closeAll();
    await cluster?.destroy();
  });

  /** The invitation node-3 got for an operation, after `act` ran. */
  const inviteFor = async (act: () => Promise<unknown>, type: string): Promise<Invite> => {
    const before = received.length;
    await act();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const found = received.slice(before).find((i) => i.op.type === type);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`node-3 got no ${type} invitation`);
  };

  /** node-3 coordinates: invites node-2 to sign and reads its first answer. */
  const node2Answers = async (op: Invite['op'], evidence: string): Promise<string> => {
    const s: NodeSession = await evil.open(evil.defaultRelay);
    try {
      await evil.invite(s, N2, op, evidence, evil.defaultRelay);
      return await s.expect(N2, 'ready', 8000).then(
        () => 'ready',
        (e: Error) => e.message,
      );
    } finally {
      s.close();
    }
  };
  const signOp = (keyId: string, msg: string) => ({ type: 'dkls-sign', key_id: keyId, msgs: [msg], path: [], extra_data: '' });

  test("a bearer-key caller's API key stays at the node it called; node-1 vouches for it instead", async () => {
    const msg = randomBytes(32);
    let signed: Awaited<ReturnType<typeof api>> | undefined;
    const invite = await inviteFor(async () => {
      signed = await api(node1, 'POST', '/ecdsa/sign', { key: bearer.apiKey, body: { key_id: bearer.keyId, msg: msg.toString('hex') } });
    }, 'dkls-sign');
    assert.equal(signed!.status, 200, JSON.stringify(signed!.body));
    const pub = await api(node1, 'GET', `/ecdsa/public-key/${bearer.keyId}`, { key: bearer.apiKey });
    assert.ok(ecc.verify(msg, fromHex(String(pub.body.public_key)), fromHex(String(signed!.body.signature))), 'tiny-secp256k1 accepts the signature');
    const secret = bearer.apiKey.slice(`tdm_${bearer.userId}_`.length); // base64url: it may hold '_'
    assert.ok(!JSON.stringify(invite).includes(secret), 'the invitation holds no part of the API key');
    assert.deepEqual(JSON.parse((invite as { evidence: string }).evidence), { vouched_user: bearer.userId });
    // What node-3 can still do for such a user, as the README says: ask on its word.
    assert.equal(await node2Answers(signOp(bearer.keyId, randomBytes(32).toString('hex')), JSON.stringify({ vouched_user: bearer.userId })), 'ready');
  });

  test("the admin key never travels; with TANDEM_ADMIN_PUBLIC_KEY a peer creates users only on the admin's signature", async () => {
    let answer: Awaited<ReturnType<typeof api>> | undefined;
    const invite = await inviteFor(async () => {
      answer = await api(node1, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    }, 'create-user');
    const secret = ADMIN_KEY.slice('tdm_admin_'.length);
    assert.ok(!JSON.stringify(invite).includes(secret), 'the invitation holds no part of the admin key');
    assert.deepEqual(JSON.parse((invite as { evidence: string }).evidence), { vouched_admin: true });
    // node-2 has the admin's public key pinned: node-1's word is not enough, all or nothing.
    assert.equal(answer!.status, 401, JSON.stringify(answer!.body));
    assert.equal(answer!.body.err_type, 'access_denied');

    // The admin's signed create-user reaches node-3 too: it can't reuse it for a key of its own, nor again.
    const key = toHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const signedInvite = await inviteFor(() => adminSigned(node1, '/admin/create-user', { public_key: { type: 'ed25519', key } }), 'create-user');
    const evidence = (signedInvite as { evidence: string }).evidence;
    const mine = toHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const createOp = (requestKey: string) => ({ type: 'create-user', user_id: randomBytes(16).toString('hex'), api_key_hash: toHex(randomBytes(32)), request_key: { type: 'ed25519', key: requestKey } });
    const created = async (op: Invite['op'], ev: string) => {
      const s = await evil.open(evil.defaultRelay);
      try {
        await evil.invite(s, N2, op, ev, evil.defaultRelay);
        return await s.expect(N2, 'created', 8000).then(() => 'created', (e: Error) => e.message);
      } finally {
        s.close();
      }
    };
    assert.match(await created(createOp(mine), evidence), /refused/, 'another request key than the admin signed');
    assert.match(await created(createOp(key), evidence), /refused \(access_denied\)/, 'the same request again: its nonce is spent');
    assert.match(await created(createOp(mine), JSON.stringify({ vouched_admin: true })), /refused \(access_denied\)/, "node-3's own word");
    assert.match(await created(createOp(mine), ADMIN_KEY), /refused \(access_denied\)/, 'a bearer key from a peer is no evidence');
  });

  test("the gateway's signed request can't be turned into another signature, replayed, or replaced by node-3's word", async () => {
    const [k1, k2] = gateway.keys;
    const hash = randomBytes(32);
    let sig: Awaited<ReturnType<SignerNodesClient['sign']>> | undefined;
    const invite = await inviteFor(async () => {
      sig = await gateway.client.sign(k1!.keyId, hash);
    }, 'dkls-sign');
    assert.ok(ecc.verify(hash, fromHex(k1!.publicKey), fromHex(sig!.signature)), 'tiny-secp256k1 accepts the signature');
    const evidence = (invite as { evidence: string }).evidence;
    assert.match(evidence, /^\{"signed_request":/);

    const other = randomBytes(32).toString('hex');
    assert.match(await node2Answers(signOp(k2!.keyId, other), evidence), /refused/, 'another key and message under the same signed request');
    assert.match(await node2Answers(signOp(k1!.keyId, hash.toString('hex')), evidence), /refused \(access_denied\)/, 'the same request again');
    assert.match(await node2Answers(signOp(k2!.keyId, other), JSON.stringify({ vouched_user: gateway.userId })), /refused \(access_denied\)/, "node-3's word for a user who signs");
  });
});
