import axios, { type InternalAxiosRequestConfig } from 'axios';
import { constants, createCipheriv, createDecipheriv, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';

/**
 * The Passport envelope written independently of the gateway (Node's crypto, not the
 * gateway's code nor the SDK's node-forge), for tests that craft requests the SDK would
 * never send: another AES key, a replay, a forged session, the direct passkey flow.
 */
export class WireClient {
  readonly aesKey = randomBytes(32);
  readonly encryptedKey: string;

  constructor(
    readonly url: string,
    enclavePublicKeyB64: string,
  ) {
    const pub = createPublicKey({ key: Buffer.from(enclavePublicKeyB64, 'base64'), format: 'der', type: 'spki' });
    this.encryptedKey = publicEncrypt(
      { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(this.aesKey.toString('base64')),
    ).toString('base64');
  }

  encrypt(text: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.aesKey, iv);
    return Buffer.concat([iv, c.update(text, 'utf8'), c.final(), c.getAuthTag()]).toString('base64');
  }

  decrypt(b64: string): string {
    const raw = Buffer.from(b64, 'base64');
    const d = createDecipheriv('aes-256-gcm', this.aesKey, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
  }

  headers(scopeId: string, extra: Record<string, string> = {}): Record<string, string> {
    return { 'X-Scope-Id': scopeId, 'X-Encrypted-Key': this.encryptedKey, 'X-Encrypted-User': this.encrypt('null'), ...extra };
  }

  async call(method: string, params: unknown, headers: Record<string, string>, body?: string): Promise<RpcAnswer> {
    return postRpc(this.url, body ?? JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }), headers);
  }
}

export interface RpcAnswer {
  status: number;
  result?: any;
  error?: { code: number; message: string; data?: string };
}

export async function postRpc(url: string, body: string, headers: Record<string, string>): Promise<RpcAnswer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const json = (await res.json()) as { result?: unknown; error?: RpcAnswer['error'] };
  return { status: res.status, ...json };
}

/**
 * Records every request the Passport SDK sends (it posts with axios), as it went on the
 * wire, and returns a lookup of the last one of a method: tests replay captured requests.
 */
export function captureSdkRequests(): (method: string) => { method: string; headers: Record<string, string>; body: string } {
  const captured: Array<{ method: string; headers: Record<string, string>; body: string }> = [];
  axios.interceptors.request.use((cfg: InternalAxiosRequestConfig) => {
    const body = typeof cfg.data === 'string' ? cfg.data : JSON.stringify(cfg.data);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.headers.toJSON())) if (k.toLowerCase().startsWith('x-')) headers[k] = String(v);
    captured.push({ method: JSON.parse(body).method, headers, body });
    return cfg;
  });
  return (method) => [...captured].reverse().find((c) => c.method === method)!;
}
