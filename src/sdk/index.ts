/**
 * Tandem client SDK: a typed client of the signer node REST API, for Node (>= 20) and
 * browsers alike (global fetch, noble crypto; no Node built-ins).
 *
 * ```ts
 * import { TandemNodeClient, TandemApiError, generateRequestKey } from './sdk/index.js';
 *
 * const nodes = ['http://127.0.0.1:7001', 'http://127.0.0.1:7002', 'http://127.0.0.1:7003'];
 * const admin = new TandemNodeClient({ nodes, credential: { apiKey: ADMIN_KEY } });
 *
 * // A user with an API key...
 * const { api_key } = await admin.createUser();
 * const alice = new TandemNodeClient({ nodes, credential: { apiKey: api_key } });
 * // ...or one whose requests are signed by a key that never leaves the device:
 * const device = generateRequestKey('p256');
 * const { user_id } = await admin.createUser({ publicKey: { type: 'p256', key: device.publicKey } });
 * const bob = new TandemNodeClient({ nodes, credential: { userId: user_id, key: device } });
 *
 * const { key_id, public_key } = await alice.keygen('ecdsa', { num_parties: 3, threshold: 2 });
 * const { signature, recovery_id } = await alice.sign('ecdsa', { key_id, msg: keccakHashHex });
 * const { signatures } = await alice.signBatch('bip340', { key_id: taprootKeyId, msg: [h1, h2] });
 *
 * // Policies are per node: configure each one.
 * for (const node of admin.eachNode()) {
 *   const { rule_id } = await node.createRule({ name: 'sign-only', type: 'operations', allowed: ['sign'] });
 *   const { policy_id } = await node.createPolicy('alice');
 *   await node.addRuleToPolicy(policy_id, rule_id);
 *   await node.setUserPolicy(aliceUserId, policy_id);
 * }
 *
 * try {
 *   await alice.sign('bip340', { key_id: 'nope', msg: '00'.repeat(32) });
 * } catch (e) {
 *   if (e instanceof TandemApiError && e.errType === 'key_id_not_exists') { ... }
 * }
 * ```
 *
 * Failover: cluster-wide calls try the nodes in order; sign/public-key/derive move on after
 * a connection error, a timeout or a 5xx; keygen and create-user only when the request never
 * reached the node (a retry could make a second key); the per-node admin API goes to the
 * first node only. A 4xx answer is not retried. The `failover` option changes that where a
 * caller wants it: round robin over the nodes, err_types another node may answer
 * differently (`executor_result`), keygen moving on like sign. See transport.ts.
 *
 * Every call takes a last `CallOptions` argument: `{ signal }` cancels it (the node abandons
 * the ceremony, no other node is asked, the call rejects with the signal's reason) and
 * `{ timeoutMs }` replaces the client's per-node timeout for that call:
 *
 * ```ts
 * const { signature } = await alice.sign('ecdsa', { key_id, msg }, { signal: AbortSignal.timeout(10_000), timeoutMs: 5_000 });
 * ```
 */
export { TandemNodeClient, type TandemNodeClientOptions } from './node-client.js';
export { TandemApiError, TandemNetworkError, type NodeFailure, type NodeFailureKind, type TandemErrType } from './errors.js';
export {
  authorizationHeader,
  generateRequestKey,
  requestPublicKey,
  type AdminSignatureCredential,
  type ApiKeyCredential,
  type Credential,
  type RequestKey,
  type RequestKeyType,
  type SignedRequestCredential,
} from './auth.js';
export type { CallOptions, FailoverOptions, RetryMode } from './transport.js';
export * from './types.js';
/** The relay, without Node built-ins: what a device party talks to the other parties through. */
export { RelayConnection, type RelayConnectOptions, type WebSocketConstructor, type WebSocketLike } from '../relay/connection.js';
