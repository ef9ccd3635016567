import type { EcdsaSignature } from '../wallet/ethereum.js';
import { requestPublicKey, TandemApiError, TandemNetworkError, TandemNodeClient, type NodeFailure, type TandemErrType } from '../sdk/index.js';
import { RpcError } from '../wallet/rpc.js';
import type { OwnerPasskey, PasskeyEvidence } from '../wallet/passkey-evidence.js';
import { toHex } from '../core/hex.js';

/**
 * The gateway is an ordinary client of the signer nodes, through the SDK's TandemNodeClient:
 * a user of its own (made with `create-user`, which exists on every node) and the REST API of
 * seed 000. It holds no share. It signs every request with its own Ed25519 request key, so a
 * node that coordinates one of its signatures carries to its peers only that one signed
 * request (this key id, this message, once per node), never a key that would let it sign
 * anything else with a wallet key. Any node can coordinate: each call starts at the next
 * node in turn and moves on from a node that is down, times out, fails with a 5xx or whose
 * ceremony failed (executor_result); any other refusal is final. Failures are JSON-RPC
 * `signing_failed`.
 */
export interface EcdsaKey {
  keyId: string;
  /** Compressed, hex without 0x. */
  publicKey: string;
}

/** The gateway's user on the nodes and its request-signing key (an Ed25519 seed). */
export interface GatewayCredential {
  userId: string;
  requestKey: Uint8Array;
}

interface NodeClientOptions {
  nodes: string[];
  credential: GatewayCredential;
  /** Per node tried: default 60 s for a keygen, 30 s for a signature. */
  keygenTimeoutMs?: number;
  signTimeoutMs?: number;
}

/** Answers another node may not give: a failed ceremony (a peer it could not reach), a proxy's page. */
const MOVE_ON: TandemErrType[] = ['executor_result', 'unexpected_response'];
const HEALTH_TIMEOUT_MS = 2000;
const SETUP_TIMEOUT_MS = 30_000;

export class SignerNodesClient {
  private readonly client: TandemNodeClient;
  private readonly perNode: TandemNodeClient[];

  constructor(private readonly opts: NodeClientOptions) {
    if (opts.nodes.length === 0) throw new Error('the gateway needs at least one signer node URL');
    this.client = new TandemNodeClient({
      nodes: opts.nodes,
      credential: { userId: opts.credential.userId, key: { type: 'ed25519', privateKey: opts.credential.requestKey } },
      // A keygen left behind on a node that timed out makes a key no account records.
      failover: { rotate: true, retryErrTypes: MOVE_ON, keygen: 'failover' },
    });
    this.perNode = this.client.eachNode();
  }

  /**
   * A 2-of-3 key for a new account. `callerGone` cancels it (the node then abandons the
   * ceremony); `owner` binds it to the account's passkey on every node.
   */
  async keygen(callerGone?: AbortSignal, owner?: OwnerPasskey): Promise<EcdsaKey> {
    const req = { num_parties: 3, threshold: 2, ...(owner ? { owner_passkey: owner } : {}) };
    const { key_id, public_key } = await nodeCall(callerGone, () => this.client.keygen('ecdsa', req, { signal: callerGone, timeoutMs: this.opts.keygenTimeoutMs ?? 60_000 }));
    if (typeof key_id !== 'string' || typeof public_key !== 'string' || !/^0[23][0-9a-f]{64}$/.test(public_key)) {
      throw new RpcError('signing_failed', 'the signer cluster answered keygen with an unexpected body');
    }
    return { keyId: key_id, publicKey: public_key };
  }

  /**
   * `extraData` goes to the nodes' policies (e.g. the unsigned transaction behind `hash`);
   * `passkey` is the end user's assertion over its request, which a passkey-bound key needs.
   */
  async sign(keyId: string, hash: Uint8Array, extraData?: Uint8Array, callerGone?: AbortSignal, passkey?: PasskeyEvidence): Promise<EcdsaSignature> {
    const req = {
      key_id: keyId,
      msg: toHex(hash),
      ...(extraData ? { extra_data: toHex(extraData) } : {}),
      ...(passkey ? { passkey_evidence: passkey } : {}),
    };
    const { signature, recovery_id } = await nodeCall(callerGone, () => this.client.sign('ecdsa', req, { signal: callerGone, timeoutMs: this.opts.signTimeoutMs ?? 30_000 }));
    if (typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature) || (recovery_id !== 0 && recovery_id !== 1)) {
      throw new RpcError('signing_failed', 'the signer cluster answered sign with an unexpected body');
    }
    return { signature, recoveryId: recovery_id };
  }

  /** How many signer nodes answer their readiness probe (each asked with a 2 s limit). */
  async readyNodes(): Promise<number> {
    const answers = await Promise.all(this.perNode.map((n) => n.health({ timeoutMs: HEALTH_TIMEOUT_MS }).then((h) => h.status === 'ok', () => false)));
    return answers.filter(Boolean).length;
  }
}

/** An SDK call, its failures as the gateway's callers see them. */
async function nodeCall<T>(callerGone: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    // Nobody reads the answer any more: no other node was asked.
    if (callerGone?.aborted) throw new RpcError('signing_failed', 'the caller went away');
    if (e instanceof TandemNetworkError) throw new RpcError('signing_failed', `no signer node could complete the request (${failureList(e.failures)})`);
    // Every node was tried after such an answer; this is the last one's.
    if (e instanceof TandemApiError && (e.status >= 500 || MOVE_ON.includes(e.errType))) {
      throw new RpcError('signing_failed', `no signer node could complete the request (${e.node}: ${reason(e)})`);
    }
    if (e instanceof TandemApiError) throw new RpcError('signing_failed', `the signer cluster refused: ${reason(e)}`);
    throw e;
  }
}

/** Why one node failed, in a few words (the SDK's messages carry Node's network error text). */
function reason(e: unknown): string {
  if (e instanceof TandemApiError) return `${e.errType}: ${e.errMsg}`;
  if (e instanceof TandemNetworkError) return e.failures.map(failureText).join('; ');
  return (e as Error).message;
}

function failureText(f: NodeFailure): string {
  return f.kind === 'connect' || f.kind === 'network' ? 'unreachable' : f.message;
}

function failureList(failures: readonly NodeFailure[]): string {
  return failures.map((f) => `${f.node}: ${failureText(f)}`).join('; ');
}

/** The public half of the gateway's request key, as create-user and /request-key take it. */
export function gatewayPublicKey(requestKey: Uint8Array): { type: 'ed25519'; key: string } {
  return { type: 'ed25519', key: requestPublicKey({ type: 'ed25519', privateKey: requestKey }) };
}

/**
 * First start: the gateway's own user on the cluster, made with an admin key (this node's:
 * nodes may each have their own, so each is tried in turn) and registered with the
 * gateway's request key on every node.
 */
export async function createGatewayUser(nodes: string[], adminKey: string, requestKey: Uint8Array): Promise<string> {
  const failures: string[] = [];
  const admin = new TandemNodeClient({ nodes, credential: { apiKey: adminKey }, timeoutMs: SETUP_TIMEOUT_MS });
  for (const node of admin.eachNode()) {
    try {
      const made = await node.createUser({ publicKey: gatewayPublicKey(requestKey) });
      if (typeof made.user_id === 'string' && /^[0-9a-f]{32}$/.test(made.user_id)) return made.user_id;
      failures.push(`${node.nodes[0]}: no user_id in the answer`);
    } catch (e) {
      failures.push(`${node.nodes[0]}: ${reason(e)}`);
    }
  }
  throw new Error(`could not create the gateway's user on the signer nodes (${failures.join('; ')})`);
}

/**
 * A gateway of release 0.1.0 held only an API key. Its user keeps its wallet keys, so the
 * gateway registers its new request key for that user on each node, with the API key, sent
 * to each node itself (never through a peer). Every node must take it before the gateway
 * stops using the API key.
 */
export async function registerRequestKey(nodes: string[], apiKey: string, requestKey: Uint8Array): Promise<void> {
  const failures: string[] = [];
  const user = new TandemNodeClient({ nodes, credential: { apiKey }, timeoutMs: SETUP_TIMEOUT_MS });
  for (const node of user.eachNode()) {
    try {
      await node.setRequestKey(gatewayPublicKey(requestKey));
    } catch (e) {
      failures.push(`${node.nodes[0]}: ${reason(e)}`);
    }
  }
  if (failures.length) throw new Error(`could not register the gateway's request key on every signer node (${failures.join('; ')}); start the gateway again once every node answers`);
}
