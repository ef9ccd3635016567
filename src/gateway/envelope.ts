import { createCipheriv, createDecipheriv, createHash, createSecretKey, createPrivateKey, createPublicKey, constants, generateKeyPairSync, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import { checkJsonText } from './params.js';
import { RpcError } from '../wallet/rpc.js';

/**
 * The Passport envelope. The client picks a random AES-256 key and sends it encrypted to
 * the gateway's RSA key (RSA-OAEP, SHA-256 for hash and MGF1) in `X-Encrypted-Key`; as the
 * SDK does it, the RSA plaintext is the base64 text of the key, not the raw bytes. Every
 * other encrypted field is AES-256-GCM, base64 of iv(12) | ciphertext | tag(16).
 */
const AES_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Far above any field the SDK sends; bounds the work an anonymous request can cause. */
const MAX_FIELD_CHARS = 256 * 1024;

export const RSA_MODULUS_BITS = 3072;

export class EnvelopeKey {
  readonly publicKeyB64: string;
  // RSA decryption costs about a millisecond; the SDK sends the same header on every call.
  readonly #cache = new Map<string, AesKey>();

  constructor(private readonly privateKey: KeyObject) {
    this.publicKeyB64 = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  }

  static generate(): EnvelopeKey {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS });
    return new EnvelopeKey(privateKey);
  }

  static fromPkcs8(der: Uint8Array): EnvelopeKey {
    return new EnvelopeKey(createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }));
  }

  pkcs8(): Uint8Array {
    return new Uint8Array(this.privateKey.export({ type: 'pkcs8', format: 'der' }));
  }

  /** The client's AES key from its `X-Encrypted-Key` header. */
  openKey(header: string | undefined): AesKey {
    if (!header) throw new RpcError('bad_encryption', 'X-Encrypted-Key is missing');
    const cached = this.#cache.get(header);
    if (cached) return cached;
    if (header.length > 2048) throw new RpcError('bad_encryption', 'X-Encrypted-Key is too long');
    let text: string;
    try {
      text = privateDecrypt(
        { key: this.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        Buffer.from(header, 'base64'),
      ).toString('utf8');
    } catch {
      throw new RpcError('bad_encryption', 'X-Encrypted-Key does not decrypt under the gateway key (see GET /enclave-public-key)');
    }
    const raw = Buffer.from(text, 'base64');
    if (raw.length !== AES_KEY_BYTES || raw.toString('base64') !== text) {
      raw.fill(0);
      throw new RpcError('bad_encryption', 'X-Encrypted-Key must carry a base64 AES-256 key');
    }
    const key = new AesKey(raw);
    if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(header, key);
    return key;
  }
}

export class AesKey {
  /** SHA-256 of the key: what challenges and sessions are bound to, never the key itself. */
  readonly binding: string;
  readonly #key: KeyObject;

  constructor(raw: Buffer) {
    this.binding = createHash('sha256').update('tandem/gateway/aes-binding/v1').update(raw).digest('base64url');
    // A KeyObject: it can't be logged or serialised by accident.
    this.#key = createSecretKey(raw);
    raw.fill(0);
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64');
  }

  /** `what` names the field in the error, e.g. "X-Encrypted-User". */
  decrypt(b64: unknown, what: string): string {
    if (typeof b64 !== 'string' || b64.length === 0) throw new RpcError('bad_encryption', `${what} is missing`);
    if (b64.length > MAX_FIELD_CHARS) throw new RpcError('bad_encryption', `${what} is too long`);
    const raw = Buffer.from(b64, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new RpcError('bad_encryption', `${what} is too short to be AES-GCM`);
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      d.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([d.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      throw new RpcError('bad_encryption', `${what} does not decrypt under the request's key`);
    }
  }

  /** Decrypts and parses JSON, held to the same text rules as plain params (a "\ud800" escape decodes to a lone surrogate). */
  decryptJson(b64: unknown, what: string): unknown {
    const text = this.decrypt(b64, what);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new RpcError('bad_encryption', `${what} is not JSON`);
    }
    checkJsonText(value, what);
    return value;
  }
}
