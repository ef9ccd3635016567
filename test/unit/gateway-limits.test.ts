import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { clientKey, parseTrustedProxies } from '../../src/gateway/client-address.js';
import { DEFAULT_LIMITS, GatewayLimits, limitsFromEnv, type LimitsConfig } from '../../src/gateway/limits.js';
import type { EcdsaKey, SignerNodesClient } from '../../src/gateway/node-client.js';
import { parseRate, RateLimiter } from '../../src/gateway/rate-limiter.js';
import { RpcError } from '../../src/wallet/rpc.js';
import { devScopeConfig } from '../../src/gateway/scopes.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { ScopeFullError, type ChallengeRecord, type GatewayStore } from '../../src/gateway/storage/gateway-store.js';
import { fakeSignerNodes, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { TEST_POSTGRES_URL } from '../helpers/cluster.js';
import { WireClient, type RpcAnswer } from '../helpers/passport-wire.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

/**
 * Issue 12, findings 5 and 11, at the wallet gateway: anonymous callers created accounts
 * (each a DKLs23 key generation on every node) and stored registration challenges (6,439
 * in 30 s) without any limit. Each mechanism is tested alone: every other limit is off.
 */
const ORIGIN = 'http://localhost:5173';

/** No limit at all, but for what a test sets. */
function only(over: Partial<Omit<LimitsConfig, 'perAddress' | 'perScope'>> & { perAddress?: Partial<LimitsConfig['perAddress']>; perScope?: Partial<LimitsConfig['perScope']> }): LimitsConfig {
  const none = { registrations: undefined, keygens: undefined, signatures: undefined };
  return {
    maxKeygens: 1e9,
    maxKeygensPerScope: 1e9,
    maxPendingChallengesPerAddress: 1e9,
    maxPendingChallenges: 1e9,
    maxAccountsPerScope: 1e9,
    ...over,
    perAddress: { ...none, ...over.perAddress },
    perScope: { ...none, ...over.perScope },
  };
}

/** Calls from a client at `address` (the gateways under test trust 127.0.0.1 as a proxy). */
function from(gw: InProcessGateway, address: string) {
  const wire = new WireClient(gw.url, gw.gateway.envelope.publicKeyB64);
  const headers = (scopeId: string, extra: Record<string, string> = {}) => wire.headers(scopeId, { 'X-Forwarded-For': address, ...extra });
  return {
    wire,
    initiate: (scopeId: string, username: string) => wire.call('initiateRegistration', { encrypted_user: wire.encrypt(JSON.stringify({ username })) }, headers(scopeId)),
    /** initiateRegistration and completeRegistration with a software passkey. */
    async register(scopeId: string, username: string): Promise<RpcAnswer> {
      const encUser = wire.encrypt(JSON.stringify({ username }));
      const init = await wire.call('initiateRegistration', { encrypted_user: encUser }, headers(scopeId));
      if (init.error) return init;
      const attestation = await new SoftAuthenticator({ origin: ORIGIN }).create(JSON.parse(wire.decrypt(init.result.encrypted_creation_challenge)));
      return wire.call('completeRegistration', { challenge_id: init.result.challenge_id, encrypted_attestation: wire.encrypt(JSON.stringify(attestation)), encrypted_user: encUser }, headers(scopeId));
    },
    sign: () => wire.call('personal_sign', ['hello', `0x${'0'.repeat(40)}`], { ...gw.sessionHeaders, 'X-Forwarded-For': address }),
  };
}

function isRefusal(a: RpcAnswer, kind: string, message: RegExp): boolean {
  return a.error?.data === kind && message.test(a.error.message);
}

async function newScope(gw: InProcessGateway): Promise<string> {
  const scopeId = randomUUID();
  await gw.gateway.store.insertScope({ scopeId, config: devScopeConfig(), ownerPublicKey: null });
  return scopeId;
}

describe('gateway limits', { timeout: 120_000 }, () => {
  let gw: InProcessGateway;
  before(async () => {
    gw = await startInProcessGateway({ trustedProxies: ['127.0.0.1'] });
  });
  after(() => gw?.close());
  const use = (limits: LimitsConfig) => (gw.gateway.limits = new GatewayLimits(limits));

  describe('pending challenges', () => {
    test('a flood of initiateRegistration from one address stores at most its bound; another address still registers', async () => {
      use(only({ maxPendingChallengesPerAddress: 16 }));
      const before = await gw.gateway.store.countChallenges();
      const flooder = from(gw, '203.0.113.7');
      const answers: RpcAnswer[] = [];
      for (let round = 0; round < 15; round++) answers.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => flooder.initiate(gw.scopeId, `flood-${round}-${i}`)))));
      assert.equal(answers.filter((a) => a.result).length, 16);
      const refused = answers.filter((a) => a.error);
      assert.equal(refused.length, 300 - 16);
      assert.ok(refused.every((a) => isRefusal(a, 'forbidden', /at most 16 challenges may be pending for one address/)), JSON.stringify(refused[0]));
      assert.equal((await gw.gateway.store.countChallenges()) - before, 16, 'the table grew by the bound, not by the flood');

      const done = await from(gw, '198.51.100.9').register(gw.scopeId, 'legit-user');
      assert.equal(done.error, undefined, JSON.stringify(done.error));
      assert.match(done.result.address, /^0x[0-9a-fA-F]{40}$/);
    });

    test('from many addresses, the gateway as a whole stores at most its bound', async () => {
      use(only({ maxPendingChallenges: (await gw.gateway.store.countChallenges()) + 40 }));
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => from(gw, `192.0.2.${i + 1}`).initiate(gw.scopeId, `many-${i}`)));
      assert.equal(answers.filter((a) => a.result).length, 40);
      assert.ok(answers.filter((a) => a.error).every((a) => isRefusal(a, 'forbidden', /maximum of \d+ pending challenges/)));
    });
  });

  describe('rates', () => {
    test('registration requests: per address, then per scope', async () => {
      use(only({ perAddress: { registrations: { count: 5, seconds: 3600 } }, perScope: { registrations: { count: 8, seconds: 3600 } } }));
      const scope = await newScope(gw);
      const a = from(gw, '203.0.113.20');
      const first = await Promise.all(Array.from({ length: 6 }, (_, i) => a.initiate(scope, `r-${i}`)));
      assert.equal(first.filter((r) => r.result).length, 5);
      assert.ok(isRefusal(first.find((r) => r.error)!, 'forbidden', /rate limit: at most 5 registration requests per 3600 s from one address; try again in \d+ s/));
      // Another address, same scope: the scope has 3 left of its 8.
      const b = from(gw, '203.0.113.21');
      const second = await Promise.all(Array.from({ length: 4 }, (_, i) => b.initiate(scope, `s-${i}`)));
      assert.equal(second.filter((r) => r.result).length, 3);
      assert.ok(isRefusal(second.find((r) => r.error)!, 'forbidden', /at most 8 registration requests per 3600 s in this scope/));
      // Another scope is untouched by this one's.
      const other = await from(gw, '203.0.113.22').initiate(await newScope(gw), 'elsewhere');
      assert.equal(other.error, undefined, JSON.stringify(other.error));
    });

    test('account creations (key generations): per address, then per scope; a refused one leaves the username free', async () => {
      use(only({ perAddress: { keygens: { count: 2, seconds: 3600 } }, perScope: { keygens: { count: 3, seconds: 3600 } } }));
      const scope = await newScope(gw);
      const a = from(gw, '203.0.113.30');
      assert.equal((await a.register(scope, 'k-1')).error, undefined);
      assert.equal((await a.register(scope, 'k-2')).error, undefined);
      const third = await a.register(scope, 'k-3');
      assert.ok(isRefusal(third, 'forbidden', /at most 2 account creations per 3600 s from one address/), JSON.stringify(third));
      assert.equal(await gw.gateway.store.findAccount(scope, 'k-3'), undefined, 'the reservation was undone');
      const b = from(gw, '203.0.113.31');
      assert.equal((await b.register(scope, 'k-3')).error, undefined, 'the name is free, the scope has one left');
      assert.ok(isRefusal(await b.register(scope, 'k-4'), 'forbidden', /at most 3 account creations per 3600 s in this scope/));
    });

    test('signatures: per address, then per scope', async () => {
      use(only({ perAddress: { signatures: { count: 3, seconds: 3600 } }, perScope: { signatures: { count: 5, seconds: 3600 } } }));
      const a = from(gw, '203.0.113.40');
      const first = [];
      for (let i = 0; i < 4; i++) first.push(await a.sign());
      assert.equal(first.filter((r) => r.result).length, 3);
      assert.ok(isRefusal(first[3]!, 'forbidden', /at most 3 signatures per 3600 s from one address/), JSON.stringify(first[3]));
      const b = from(gw, '203.0.113.41');
      assert.ok((await b.sign()).result);
      assert.ok((await b.sign()).result);
      assert.ok(isRefusal(await b.sign(), 'forbidden', /at most 5 signatures per 3600 s in this scope/));
    });

    test("signing requests with forged credentials: limited per address, and they spend nothing of the scope's budget", async () => {
      use(only({ perAddress: { signatures: { count: 3, seconds: 3600 } }, perScope: { signatures: { count: 1, seconds: 3600 } } }));
      const wire = new WireClient(gw.url, gw.gateway.envelope.publicKeyB64);
      const forged = [];
      for (let i = 0; i < 6; i++) {
        const headers = wire.headers(gw.scopeId, { 'X-Forwarded-For': '203.0.113.45', 'X-Encrypted-Session': wire.encrypt('not-a-jwt') });
        forged.push(await wire.call('personal_sign', ['hello', `0x${'0'.repeat(40)}`], headers));
      }
      assert.ok(forged.slice(0, 3).every((a) => a.error && a.error.data !== 'forbidden'), 'refused for their credentials');
      assert.ok(forged.slice(3).every((a) => isRefusal(a, 'forbidden', /at most 3 signatures per 3600 s from one address/)), JSON.stringify(forged[3]));
      assert.ok((await from(gw, '203.0.113.46').sign()).result, "the scope's one signature is still there for its account");
    });
  });

  test('accounts per scope: a quota, counted in the database', async () => {
    use(only({ maxAccountsPerScope: 2 }));
    const scope = await newScope(gw);
    assert.equal((await from(gw, '203.0.113.50').register(scope, 'q-1')).error, undefined);
    assert.equal((await from(gw, '203.0.113.51').register(scope, 'q-2')).error, undefined);
    const third = await from(gw, '203.0.113.52').register(scope, 'q-3');
    assert.ok(isRefusal(third, 'forbidden', /this scope holds its maximum of 2 accounts/), JSON.stringify(third));
    assert.equal((await from(gw, '203.0.113.53').register(await newScope(gw), 'q-3')).error, undefined, 'other scopes are not affected');
  });
});

describe('key generations in flight at the gateway', { timeout: 60_000 }, () => {
  /** Signer nodes whose key generations wait until the test lets them finish. */
  function heldNodes() {
    const fake = fakeSignerNodes();
    let hold = false;
    const waiting: Array<() => void> = [];
    const signals: Array<AbortSignal | undefined> = [];
    const nodes = Object.assign(Object.create(fake) as SignerNodesClient, {
      async keygen(signal?: AbortSignal): Promise<EcdsaKey> {
        signals.push(signal);
        if (hold) {
          await new Promise<void>((resolve, reject) => {
            waiting.push(resolve);
            signal?.addEventListener('abort', () => reject(new RpcError('signing_failed', 'the caller went away')), { once: true });
          });
        }
        return fake.keygen();
      },
    });
    return {
      nodes,
      signals,
      hold: () => (hold = true),
      waiting: () => waiting.length,
      /** Lets every held key generation finish, and later ones run at once. */
      releaseAll: () => {
        hold = false;
        waiting.splice(0).forEach((r) => r());
      },
    };
  }

  test('beyond the bound per scope and in all: signing_failed at once, while the others run', async () => {
    const held = heldNodes();
    const gw = await startInProcessGateway({ nodes: held.nodes, trustedProxies: ['127.0.0.1'], limits: only({ maxKeygens: 3, maxKeygensPerScope: 2 }) });
    try {
      held.hold();
      const [s1, s2, s3] = [gw.scopeId, await newScope(gw), await newScope(gw)];
      const running = [from(gw, '203.0.113.60').register(s1, 'c-1'), from(gw, '203.0.113.61').register(s1, 'c-2')];
      await until(() => held.waiting() === 2);
      const perScope = await from(gw, '203.0.113.62').register(s1, 'c-3');
      assert.ok(isRefusal(perScope, 'signing_failed', /at most 2 account creations run at once per scope/), JSON.stringify(perScope));
      running.push(from(gw, '203.0.113.63').register(s2, 'c-4'));
      await until(() => held.waiting() === 3);
      const total = await from(gw, '203.0.113.64').register(s3, 'c-5');
      assert.ok(isRefusal(total, 'signing_failed', /the gateway runs 3 account creations at once already/), JSON.stringify(total));
      assert.equal(held.waiting(), 3, 'the refusals came while the three still ran: no queue');
      held.releaseAll();
      for (const r of await Promise.all(running)) assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal((await from(gw, '203.0.113.64').register(s3, 'c-5')).error, undefined, 'the places are free again');
    } finally {
      held.releaseAll();
      await gw.close();
    }
  });

  test("a registration whose client disconnects cancels the node request and frees the username", async () => {
    const held = heldNodes();
    const gw = await startInProcessGateway({ nodes: held.nodes });
    try {
      held.hold();
      const wire = new WireClient(gw.url, gw.gateway.envelope.publicKeyB64);
      const encUser = wire.encrypt(JSON.stringify({ username: 'leaver' }));
      const init = await wire.call('initiateRegistration', { encrypted_user: encUser }, wire.headers(gw.scopeId));
      const attestation = await new SoftAuthenticator({ origin: ORIGIN }).create(JSON.parse(wire.decrypt(init.result.encrypted_creation_challenge)));
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'completeRegistration', params: { challenge_id: init.result.challenge_id, encrypted_attestation: wire.encrypt(JSON.stringify(attestation)), encrypted_user: encUser } });
      const headers = Object.entries(wire.headers(gw.scopeId)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await until(() => held.waiting() === 1);
      assert.ok(await gw.gateway.store.findAccount(gw.scopeId, 'leaver'), 'reserved while its key is made');
      socket.destroy();
      const signal = held.signals.at(-1);
      assert.ok(signal, 'the node request carries the caller signal');
      await until(() => signal.aborted);
      await until(async () => (await gw.gateway.store.findAccount(gw.scopeId, 'leaver')) === undefined);
    } finally {
      held.releaseAll();
      await gw.close();
    }
  });
});

describe('client addresses', () => {
  test('X-Forwarded-For counts only from a trusted proxy', async () => {
    const gw = await startInProcessGateway({ limits: only({ perAddress: { registrations: { count: 3, seconds: 3600 } } }) });
    try {
      // Not trusted: every "address" below is the socket's 127.0.0.1.
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => from(gw, `198.51.100.${i + 1}`).initiate(gw.scopeId, `x-${i}`)));
      assert.equal(answers.filter((a) => a.result).length, 3);
    } finally {
      await gw.close();
    }
  });

  test('IPv6 callers count per /64; IPv4-mapped as IPv4', () => {
    assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:DB8:0001:0002:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('192.0.2.1'), '192.0.2.1');
  });

  test('TANDEM_TRUSTED_PROXIES: addresses and CIDR ranges; anything else stops the start', () => {
    assert.deepEqual(parseTrustedProxies(' 10.0.0.0/8, ::1 '), ['10.0.0.0/8', '::1']);
    assert.deepEqual(parseTrustedProxies(undefined), []);
    assert.throws(() => parseTrustedProxies('proxy.example.com'), /TANDEM_TRUSTED_PROXIES/);
  });
});

describe('limits configuration and buckets', () => {
  test('the environment: defaults, N/S rates, off, bad values stop the start', () => {
    assert.deepEqual(limitsFromEnv({}), DEFAULT_LIMITS);
    const l = limitsFromEnv({ TANDEM_GATEWAY_KEYGENS_PER_ADDRESS: '3/600', TANDEM_GATEWAY_SIGNATURES_PER_SCOPE: 'off', TANDEM_GATEWAY_MAX_ACCOUNTS_PER_SCOPE: '50' });
    assert.deepEqual(l.perAddress.keygens, { count: 3, seconds: 600 });
    assert.equal(l.perScope.signatures, undefined);
    assert.equal(l.maxAccountsPerScope, 50);
    assert.throws(() => limitsFromEnv({ TANDEM_GATEWAY_REGISTRATIONS_PER_ADDRESS: '30 per minute' }), /TANDEM_GATEWAY_REGISTRATIONS_PER_ADDRESS/);
    assert.throws(() => limitsFromEnv({ TANDEM_GATEWAY_MAX_KEYGENS: '0' }), /TANDEM_GATEWAY_MAX_KEYGENS/);
    assert.throws(() => parseRate('0/60', 'X'), /X/);
  });

  test('a bucket refills at its rate and forgets full buckets and the oldest keys', () => {
    let t = 0;
    const r = new RateLimiter<string>({ count: 2, seconds: 10 }, 4, () => t);
    assert.equal(r.take('a'), 0);
    assert.equal(r.take('a'), 0);
    assert.equal(r.take('a'), 5, 'the next token in 5 s');
    t = 5000;
    assert.equal(r.take('a'), 0);
    for (const k of ['b', 'c', 'd', 'e']) r.take(k);
    assert.ok(r.size <= 4, 'never more keys than its bound');
    t = 60_000;
    r.take('f');
    assert.equal(r.size, 1, 'buckets that refilled are dropped');
  });
});

describe('gateway store bounds hold across two copies on PostgreSQL', { timeout: 60_000 }, () => {
  let stores: GatewayStore[];
  const schema = `gw_limits_${randomUUID().slice(0, 8)}`;
  before(async () => {
    const config = { kind: 'postgres' as const, url: TEST_POSTGRES_URL, schema };
    stores = [await openGatewayStore(config), await openGatewayStore(config)];
    await stores[0]!.insertScope({ scopeId: 's', config: devScopeConfig(), ownerPublicKey: null });
  });
  after(async () => {
    const { dropSchemas } = await import('../helpers/cluster.js');
    await Promise.all((stores ?? []).map((s) => s.close()));
    await dropSchemas(schema);
  });

  const challenge = (expiresAt = new Date(Date.now() + 60_000)): ChallengeRecord => ({
    challengeId: randomUUID(),
    purpose: 'registration',
    scopeId: 's',
    username: 'u',
    keyBinding: 'kb',
    challenge: 'Y2g',
    payload: {},
    expiresAt,
  });

  test('pending challenges: 40 concurrent inserts, 10 stored; expired ones make room', async () => {
    const bound = { clientAddress: '203.0.113.1', perAddress: 10, total: 1000 };
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2]!.insertChallenge(challenge(), bound)));
    assert.equal(got.filter((g) => g === 'stored').length, 10);
    assert.equal(got.filter((g) => g === 'address_full').length, 30);
    // Five expired ones, not yet swept: they count until a bound is reached, then make room.
    for (let i = 0; i < 5; i++) await stores[0]!.insertChallenge(challenge(new Date(Date.now() - 1000)));
    assert.equal(await stores[0]!.countChallenges(), 15);
    const total = { clientAddress: '203.0.113.2', perAddress: 1000, total: 12 };
    const more = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.insertChallenge(challenge(), total)));
    assert.equal(more.filter((g) => g === 'stored').length, 2, 'the expired five were cleared, then two fit');
    assert.equal(more.filter((g) => g === 'full').length, 8);
    assert.equal(await stores[1]!.countChallenges(), 12);
  });

  test('accounts per scope: 20 concurrent reservations, 5 made', async () => {
    const got = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        stores[i % 2]!.reserveAccount({ accountId: `a-${i}`, scopeId: 's', kind: 'passkey', username: `user-${i}`, displayName: 'U', userHandle: `h${i}`, keyId: null, publicKey: null, address: null }, 5),
      ),
    );
    assert.equal(got.filter((g) => g.status === 'fulfilled' && g.value === true).length, 5);
    assert.ok(got.filter((g) => g.status === 'rejected').every((g) => (g as PromiseRejectedResult).reason instanceof ScopeFullError));
  });
});

/** Polls until `cond` holds (10 s at most: these wait for this process's own requests). */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await delay(10);
  }
}
