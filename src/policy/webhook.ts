import { randomUUID } from 'node:crypto';
import { fetch, type Dispatcher, type Response } from 'undici';
import {
  isRetiredV1RuleResponseSignature,
  NODE_ID_HEADER,
  REQUEST_SIGNATURE_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  ruleRequestSigningBytes,
  verifyRuleResponseSignature,
} from './signatures.js';
import type { NodeSigningKey, OperationContext } from './context.js';
import { toHex } from '../core/hex.js';

/**
 * A webhook rule: this node asks the customer's Rule Server on its own, and approves only
 * on an unambiguous yes. The exchange (formats in signatures.ts):
 *
 *   POST <url>
 *   content-type: application/json
 *   x-tandem-node-id: <node id>
 *   x-tandem-signature: <hex Ed25519 over "tandem-rule-request/v1\n" || body>
 *   { "request_id", "ceremony_id", "operation", "key_family", "key_id", "public_key",
 *     "derivation_path", "derived_public_key", "msg", "extra_data", "user_id", "node_id",
 *     "timestamp" }
 *   (hex lower case without 0x; null where the operation has no such value)
 *
 *   200 { "approved": true | false, "reason"?: string }
 *   x-tandem-rule-signature: <hex Ed25519 over
 *     "tandem-rule-response/v2\n" || hex(SHA-256(request body)) || "\n" || body>
 *   (required when the rule has a public_key)
 *
 * request_id is made here, fresh for every request, never taken from the ceremony: the
 * ceremony id is the coordinator's choice and can come back, and two rules (or two
 * messages of a batch) asked in one decision must not share an answer. ceremony_id is
 * there only to let the Rule Server correlate (see OperationContext.ceremonyId).
 *
 * Everything else refuses (fail closed): a connection error, no complete answer within
 * `timeout_ms` (connect, headers and body together), a redirect (never followed), any
 * status but 200, a body over 16 KiB or not a JSON object, `approved` anything but the
 * boolean true, a `request_id` in the answer that is not this request's, and, when the rule
 * has a public_key, a missing or invalid signature (a v1 signature included: it does not
 * bind the request body). askRuleServer never throws for these:
 * it returns the reason.
 *
 * The URL is the administrator's, so it is not restricted to public addresses (Rule
 * Servers usually run next to the nodes).
 */

export const MAX_RULE_RESPONSE_BYTES = 16 * 1024;
const MAX_REASON_CHARS = 200;

/** A webhook rule as stored (rules/webhook.ts): where its Rule Server is and how it signs. */
export interface RuleServer {
  url: string;
  timeout_ms: number;
  /** Hex Ed25519 key the answer must be signed with; null takes an unsigned answer. */
  public_key: string | null;
}

export interface AskOptions {
  /** An undici dispatcher (tests, proxies); undici's global one by default. */
  dispatcher?: Dispatcher;
  maxResponseBytes?: number;
}


/** The JSON body a Rule Server receives, field names as documented; `requestId` must be fresh (see above). */
export function ruleRequestBody(ctx: OperationContext, requestId: string): string {
  return JSON.stringify({
    request_id: requestId,
    ceremony_id: ctx.ceremonyId,
    operation: ctx.operation,
    key_family: ctx.keyFamily,
    key_id: ctx.keyId,
    public_key: ctx.publicKey,
    derivation_path: ctx.derivationPath,
    derived_public_key: ctx.derivedPublicKey,
    msg: ctx.msg,
    extra_data: ctx.extraData,
    user_id: ctx.userId,
    node_id: ctx.nodeId,
    timestamp: ctx.timestamp,
  });
}

/** Asks the Rule Server; null = approved, a string = why not. Never throws. */
export async function askRuleServer(def: RuleServer, ctx: OperationContext, signer: NodeSigningKey, opts: AskOptions = {}): Promise<string | null> {
  try {
    return await ask(def, ctx, signer, opts);
  } catch {
    return 'the rule server could not be asked';
  }
}

async function ask(def: RuleServer, ctx: OperationContext, signer: NodeSigningKey, opts: AskOptions): Promise<string | null> {
  const maxBytes = opts.maxResponseBytes ?? MAX_RULE_RESPONSE_BYTES;
  const requestId = randomUUID();
  const body = Buffer.from(ruleRequestBody(ctx, requestId), 'utf8');
  const signature = toHex(signer.sign(ruleRequestSigningBytes(body)));
  const signal = AbortSignal.timeout(def.timeout_ms);
  const timedOut = `rule server timed out after ${def.timeout_ms} ms`;

  let res: Response;
  try {
    res = await fetch(def.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        [NODE_ID_HEADER]: signer.nodeId,
        [REQUEST_SIGNATURE_HEADER]: signature,
      },
      body,
      redirect: 'manual',
      signal,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    });
  } catch (e) {
    if (signal.aborted) return timedOut;
    return `rule server unreachable${errCode(e)}`;
  }

  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    return `rule server answered with a redirect (HTTP ${res.status}); redirects are not followed`;
  }

  let bytes: Uint8Array;
  try {
    const read = await readCapped(res, maxBytes);
    if (read === 'too-big') return `rule server answer exceeds ${maxBytes} bytes`;
    bytes = read;
  } catch {
    if (signal.aborted) return timedOut;
    return 'rule server answer could not be read';
  }

  if (res.status !== 200) {
    const why = reasonOf(parseJson(bytes));
    return `rule server answered HTTP ${res.status}${why ? `: ${why}` : ''}`;
  }

  if (def.public_key !== null) {
    const sig = res.headers.get(RESPONSE_SIGNATURE_HEADER);
    if (sig === null || sig === '') return `rule server answer is not signed (${RESPONSE_SIGNATURE_HEADER} missing)`;
    if (!verifyRuleResponseSignature(def.public_key, body, bytes, sig.trim())) {
      if (isRetiredV1RuleResponseSignature(def.public_key, requestId, bytes, sig.trim())) {
        return 'rule server answer is signed with tandem-rule-response/v1, which nodes no longer accept: sign v2 (over the request body hash)';
      }
      return 'rule server answer signature is invalid (for this rule key and request)';
    }
  }

  const answer = parseJson(bytes);
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return 'rule server answer is not a JSON object';
  const a = answer as Record<string, unknown>;
  if (a.request_id !== undefined && a.request_id !== requestId) return 'rule server answered another request';
  if (a.approved === true) return null;
  if (a.approved === false) {
    const why = reasonOf(a);
    return why ? `rule server denied: ${why}` : 'rule server denied the request';
  }
  return 'rule server answer has no boolean "approved"';
}

async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array | 'too-big'> {
  if (res.body === null) return new Uint8Array(0);
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    return 'too-big';
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return 'too-big';
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

/** The server's `reason`, made safe for logs and error messages. */
function reasonOf(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = (v as Record<string, unknown>).reason;
  if (typeof r !== 'string') return null;
  const clean = r.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
  if (clean === '') return null;
  return clean.length > MAX_REASON_CHARS ? `${clean.slice(0, MAX_REASON_CHARS)}...` : clean;
}

function errCode(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown } }).cause;
  const code = cause && typeof cause.code === 'string' ? cause.code : undefined;
  return code ? ` (${code})` : '';
}
