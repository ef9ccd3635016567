import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { RpcError } from '../wallet/rpc.js';
import type { AccountRecord, GatewayStore } from './storage/gateway-store.js';

/**
 * Sessions are HS256 JWTs (the SDK reads `public_key` from the payload to derive the
 * address) with a row behind each one, so a session can be revoked before it expires.
 * A session names its scope, its user and the client's AES key; presented with any other
 * it is refused. It is still a bearer token for whoever holds all of the request's
 * headers: TLS is what keeps them secret in transit.
 */
export interface SessionClaims {
  sid: string;
  sub: string;
  scope_id: string;
  username: string;
  /** Compressed secp256k1 key, hex without 0x (the SDK's `publicKeyToEthereumAddress` input). */
  public_key: string;
  address: string;
  key_binding: string;
}

const ISSUER = 'tandem-gateway';

export class SessionIssuer {
  readonly #secret: Uint8Array;

  constructor(
    secret: Uint8Array,
    private readonly store: GatewayStore,
    readonly ttlSeconds: number,
  ) {
    this.#secret = secret;
  }

  async issue(account: AccountRecord, keyBinding: string): Promise<string> {
    const sid = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    await this.store.insertSession({ sessionId: sid, accountId: account.accountId, expiresAt: new Date((now + this.ttlSeconds) * 1000), revoked: false });
    const claims: Omit<SessionClaims, 'sub'> = {
      sid,
      scope_id: account.scopeId,
      username: account.username,
      public_key: account.publicKey!,
      address: account.address!,
      key_binding: keyBinding,
    };
    return new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(account.accountId)
      .setJti(sid)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .sign(this.#secret);
  }

  /** Checks signature, expiry, revocation and every binding; returns the claims. */
  async verify(jwt: string, expect: { scopeId: string; username: string; keyBinding: string }): Promise<SessionClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(jwt, this.#secret, { algorithms: ['HS256'], issuer: ISSUER }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new RpcError('unauthorized', 'the session has expired; log in again');
      throw new RpcError('unauthorized', 'the session is not valid');
    }
    const c = payload as unknown as SessionClaims;
    if (c.scope_id !== expect.scopeId) throw new RpcError('unauthorized', 'the session belongs to another scope');
    if (c.username !== expect.username) throw new RpcError('unauthorized', 'the session belongs to another user');
    if (c.key_binding !== expect.keyBinding) throw new RpcError('unauthorized', 'the session was issued to another encryption key');
    const row = await this.store.getSession(c.sid);
    if (!row || row.revoked || row.accountId !== c.sub) throw new RpcError('unauthorized', 'the session has been revoked');
    return c;
  }

  revoke(sid: string): Promise<void> {
    return this.store.revokeSession(sid);
  }
}
