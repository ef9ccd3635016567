import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { signRequest } from '../shared/request-signature.js';
import { RpcError } from './rpc.js';
import type { OwnerPasskey, PasskeyEvidence } from '../node/passkey-owner.js';

/**
 * The gateway is an ordinary client of the signer nodes: a user of its own (made with
 * `create-user`, which exists on every node) and the REST API of seed 000. It holds no
 * share. It signs every request with its own Ed25519 request key, so a node that
 * coordinates one of its signatures carries to its peers only that one signed request
 * (this key id, this message, once per node), never a key that would let it sign anything
 * else with a wallet key. Any node can coordinate, so a node that is down or times out is
 * skipped.
 */
export interface EcdsaKey {
  keyId: string;
  /** Compressed, hex without 0x. */
  publicKey: string;
}

export interface EcdsaSignature {
  /** r | s, 64 bytes hex, low-S. */
  signature: string;
  recoveryId: number;
}

/** The gateway's user on the nodes and its request-signing key (an Ed25519 seed). */
export interface GatewayCredential {
  userId: string;
  requestKey: Uint8Array;
}

export interface NodeClientOptions {
  nodes: string[];
  credential: GatewayCredential;
  keygenTimeoutMs?: number;
  signTimeoutMs?: number;
}

/** A node's answer that another node would give too (bad input, unknown key): no failover. */
class NodeRefused extends Error {}

export class SignerNodesClient {
  private next = 0;
  constructor(private readonly opts: NodeClientOptions) {
    if (opts.nodes.length === 0) throw new Error('the gateway needs at least one signer node URL');
  }

  /**
   * A 2-of-3 key for a new account. `callerGone` cancels it (the node then abandons the
   * ceremony); `owner` binds it to the account's passkey on every node.
   */
  async keygen(callerGone?: AbortSignal, owner?: OwnerPasskey): Promise<EcdsaKey> {
    const req = { num_parties: 3, threshold: 2, ...(owner ? { owner_passkey: owner } : {}) };
    const body = await this.post('/ecdsa/keygen', req, this.opts.keygenTimeoutMs ?? 60_000, callerGone);
    const { key_id, public_key } = body as { key_id?: unknown; public_key?: unknown };
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
      msg: Buffer.from(hash).toString('hex'),
      ...(extraData ? { extra_data: Buffer.from(extraData).toString('hex') } : {}),
      ...(passkey ? { passkey_evidence: passkey } : {}),
    };
    const body = await this.post('/ecdsa/sign', req, this.opts.signTimeoutMs ?? 30_000, callerGone);
    const { signature, recovery_id } = body as { signature?: unknown; recovery_id?: unknown };
    if (typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature) || (recovery_id !== 0 && recovery_id !== 1)) {
      throw new RpcError('signing_failed', 'the signer cluster answered sign with an unexpected body');
    }
    return { signature, recoveryId: recovery_id };
  }

  /** How many signer nodes answer their readiness probe (each asked with a 2 s limit). */
  async readyNodes(): Promise<number> {
    const answers = await Promise.all(
      this.opts.nodes.map((url) =>
        fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        ),
      ),
    );
    return answers.filter(Boolean).length;
  }

  /** Tries each node once, starting with the next in turn, until one answers. */
  private async post(path: string, body: unknown, timeoutMs: number, callerGone?: AbortSignal): Promise<unknown> {
    const nodes = this.opts.nodes;
    const start = this.next++ % nodes.length;
    const failures: string[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const url = nodes[(start + i) % nodes.length]!;
      // Nobody reads the answer any more: no other node is asked.
      if (callerGone?.aborted) throw new RpcError('signing_failed', 'the caller went away');
      try {
        const text = JSON.stringify(body);
        const authorization = signRequest({ type: 'ed25519', privateKey: this.opts.credential.requestKey }, this.opts.credential.userId, { method: 'POST', path, body: text });
        return await postJson(url + path, text, authorization, timeoutMs, callerGone);
      } catch (e) {
        if (e instanceof NodeRefused) throw new RpcError('signing_failed', `the signer cluster refused: ${e.message}`);
        failures.push(`${url}: ${(e as Error).message}`);
      }
    }
    throw new RpcError('signing_failed', `no signer node could complete the request (${failures.join('; ')})`);
  }
}

async function postJson(url: string, body: string, authorization: string, timeoutMs: number, callerGone?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    // Aborting closes the connection to the node, which then abandons its ceremony.
    const timeout = AbortSignal.timeout(timeoutMs);
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body,
      signal: callerGone ? AbortSignal.any([timeout, callerGone]) : timeout,
    });
  } catch (e) {
    const name = (e as Error).name;
    throw new Error(name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : 'unreachable');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status} without JSON`);
  }
  if (res.ok) return json;
  const err = json as { err_type?: string; err_msg?: string };
  const reason = `${err.err_type ?? res.status}: ${err.err_msg ?? ''}`;
  // executor_result (a ceremony that failed, e.g. too few peers) and 5xx may go better elsewhere.
  if (res.status >= 500 || err.err_type === 'executor_result') throw new Error(reason);
  throw new NodeRefused(reason);
}

/** The public half of the gateway's request key, as create-user and /request-key take it. */
export function gatewayPublicKey(requestKey: Uint8Array): { type: 'ed25519'; key: string } {
  return { type: 'ed25519', key: bytesToHex(ed25519.getPublicKey(requestKey)) };
}

/**
 * First start: the gateway's own user on the cluster, made with an admin key (this node's:
 * nodes may each have their own, so each is tried in turn) and registered with the
 * gateway's request key on every node.
 */
export async function createGatewayUser(nodes: string[], adminKey: string, requestKey: Uint8Array): Promise<string> {
  const failures: string[] = [];
  const body = JSON.stringify({ public_key: gatewayPublicKey(requestKey) });
  for (const url of nodes) {
    try {
      const made = (await postJson(`${url}/admin/create-user`, body, adminKey, 30_000)) as { user_id?: unknown };
      if (typeof made.user_id === 'string' && /^[0-9a-f]{32}$/.test(made.user_id)) return made.user_id;
      failures.push(`${url}: no user_id in the answer`);
    } catch (e) {
      failures.push(`${url}: ${(e as Error).message}`);
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
  const body = JSON.stringify({ public_key: gatewayPublicKey(requestKey) });
  const failures: string[] = [];
  for (const url of nodes) {
    try {
      await postJson(`${url}/request-key`, body, apiKey, 30_000);
    } catch (e) {
      failures.push(`${url}: ${(e as Error).message}`);
    }
  }
  if (failures.length) throw new Error(`could not register the gateway's request key on every signer node (${failures.join('; ')}); start the gateway again once every node answers`);
}
