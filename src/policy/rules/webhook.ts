import { ed25519 } from '@noble/curves/ed25519.js';
import Type, { type Static, type TObject } from 'typebox';
import { PRINTABLE_TEXT_PATTERN } from '../../core/text.js';
import { askRuleServer } from '../webhook.js';
import { defineRuleKind, Nullable, refuseDefinition } from './kind.js';

export const MAX_URL_CHARS = 2048;
export const MIN_TIMEOUT_MS = 50;
export const MAX_TIMEOUT_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 2000;

const fields = {
  url: Type.String({
    minLength: 1,
    maxLength: MAX_URL_CHARS,
    pattern: PRINTABLE_TEXT_PATTERN,
    description: `The Rule Server: http: or https:, at most ${MAX_URL_CHARS} characters, no credentials.`,
    errorMessage: { pattern: 'url must not contain control characters or lone surrogates' },
  }),
  timeout_ms: Nullable(Type.Integer({ minimum: MIN_TIMEOUT_MS, maximum: MAX_TIMEOUT_MS }), {
    description: `The whole exchange (connect, answer, body) in ms, ${MIN_TIMEOUT_MS}..${MAX_TIMEOUT_MS}; absent or null: ${DEFAULT_TIMEOUT_MS}.`,
    default: DEFAULT_TIMEOUT_MS,
  }),
  public_key: Nullable(Type.String({ pattern: '^[0-9a-fA-F]{64}$', errorMessage: 'public_key must be 64 hex characters (an Ed25519 public key)' }), {
    description: "The Rule Server's Ed25519 public key (64 hex characters): its answers must be signed with it. Absent or null: plain answers are accepted.",
  }),
};

function normalise(b: Static<TObject<typeof fields>>) {
  let url: URL;
  try {
    url = new URL(b.url);
  } catch {
    refuseDefinition('url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuseDefinition('url must be http: or https:');
  if (url.username !== '' || url.password !== '') refuseDefinition('url must not contain credentials');
  const public_key = b.public_key === undefined || b.public_key === null ? null : b.public_key.toLowerCase();
  if (public_key !== null) {
    let weak: boolean;
    try {
      weak = ed25519.Point.fromHex(public_key).isSmallOrder();
    } catch {
      refuseDefinition('public_key is not a valid Ed25519 public key');
    }
    if (weak) refuseDefinition('public_key is a small-order point, not a usable Ed25519 public key');
  }
  return { type: 'webhook' as const, url: b.url, timeout_ms: b.timeout_ms ?? DEFAULT_TIMEOUT_MS, public_key };
}

/**
 * webhook: this node asks the administrator's Rule Server (see ../webhook.ts for the
 * exchange) once every stateless rule approved, and approves only on its (signed) yes.
 *   url         http: or https:, at most 2048 characters, no credentials. Stored as given
 *               (the URL parser would drop some control characters silently: refused).
 *   timeout_ms  50..30000, default 2000: the whole exchange (connect, answer, body).
 *   public_key  64 hex characters, an Ed25519 public key (RFC 8032 encoding), not of small
 *               order. When set, the answer must carry its signature; null or absent: a
 *               plain answer is accepted.
 */
export const webhook = defineRuleKind({
  type: 'webhook',
  description:
    "Asks the administrator's Rule Server (POST url, signed by this node) and approves only on 200 {\"approved\": true} in time, signed by public_key when it is set. Asked once the stateless rules approved, before any budget is taken.",
  example: { name: 'rule-server', type: 'webhook', url: 'https://rules.example.com/check', timeout_ms: 2000 },
  fields,
  normalise,
  ask: (def, ctx, deps) => askRuleServer(def, ctx, deps.signer, deps.webhook),
});
