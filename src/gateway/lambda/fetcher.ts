import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, fetch, type Response } from 'undici';
import { canonicalIp, inAddressRanges, isInternalAddress, type AddressRange } from './addresses.js';
import { findAllowEntry, urlHost, type Allowlist } from './allowlist.js';
import type { HttpMethod } from './definition.js';
import { LambdaError } from './errors.js';
import { copyJson, type JsonValue } from './json.js';

/**
 * The only way a lambda reaches the network: fetch conditions and post hooks, through
 * undici's fetch on a one-request Agent, after these checks (all before any byte leaves
 * the host):
 *
 * - the URL is http: or https:, without credentials, and its host and port match the
 *   scope's allowlist (allowlist.ts);
 * - a host name is resolved once (dns.promises.lookup, all addresses, or the injected
 *   Resolver) and refused if any address is internal (addresses.ts: private, loopback,
 *   link-local, multicast, this host's own...) unless it is in a range the operator opened
 *   (`internalAllow`, TANDEM_LAMBDA_INTERNAL_ALLOW); an IP literal is judged the same way.
 *   The scope's allowlist never opens an internal address: anyone can create a scope;
 * - header values carry no line breaks (they may come from substitution).
 *
 * DNS rebinding: the connection is pinned to the addresses that were checked. The Agent's
 * `connect.lookup` answers net/tls.connect with exactly those addresses and never consults
 * DNS again, so a name whose DNS an attacker controls cannot answer our check with a public
 * address and the connection with an internal one. The URL is left untouched, so the Host
 * header and TLS SNI / certificate verification still use the original host name. (Global
 * fetch cannot do this: its `dispatcher` option only takes Node's bundled undici, hence the
 * npm `undici` package's fetch and Agent together.)
 *
 * Then: redirects are not followed (`redirect: 'manual'`; any 3xx fails, so an allowed host
 * cannot bounce us elsewhere), the whole request (lookup, connect, headers, body) shares
 * one AbortSignal deadline, and the body is read as a stream and abandoned past the size
 * cap. A JSON content type is parsed, anything else is returned as text. The Agent is
 * destroyed when the request is over, so no pinned connection is reused.
 */

export interface FetchLimits {
  timeoutMs: number;
  maxBodyBytes: number;
}

export const DEFAULT_FETCH_LIMITS: Readonly<FetchLimits> = { timeoutMs: 2000, maxBodyBytes: 64 * 1024 };

export interface HttpRequest {
  method: HttpMethod;
  url: string;
  headers: Readonly<Record<string, string>>;
  /** JSON body; not sent for GET, nor for DELETE when it is `{}`. */
  body: JsonValue;
}

export interface HttpResult {
  status: number;
  /** Parsed JSON for a JSON content type, else the text. */
  body: JsonValue;
}

/** Resolves a host name to its addresses. Replaceable in tests. */
export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

function refused(message: string): never {
  throw new LambdaError('fetch_refused', message);
}

function failed(message: string): never {
  throw new LambdaError('fetch_failed', message);
}

/** Where a checked request may connect: the parsed URL and the addresses it was checked against. */
export interface Destination {
  url: URL;
  /** Canonical IPs, all checked; the connection goes to one of these and nowhere else. */
  addresses: string[];
}

/** Checks that a request may go out; returns the URL and the checked addresses. Nothing is sent. */
export async function checkDestination(
  rawUrl: string,
  allowlist: Allowlist,
  resolve: Resolver,
  signal: AbortSignal,
  internalAllow: readonly AddressRange[] = [],
): Promise<Destination> {
  const reachable = (ip: string) => !isInternalAddress(ip) || inAddressRanges(ip, internalAllow);
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    refused('the endpoint is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') refused('only https: and http: endpoints are allowed');
  if (url.username !== '' || url.password !== '') refused('the endpoint must not contain credentials');
  const { host, isIp, port } = urlHost(url);
  if (findAllowEntry(url, allowlist) === undefined) refused(`${isIp && host.includes(':') ? `[${host}]` : host}:${port} is not on the scope's fetch allowlist`);
  if (isIp) {
    if (!reachable(host)) refused(`${host.includes(':') ? `[${host}]` : host} is an internal address that the gateway's operator has not opened`);
    return { url, addresses: [host] };
  }

  let resolved: string[];
  try {
    resolved = await Promise.race([resolve(host), aborted(signal)]);
  } catch (e) {
    if (signal.aborted) failed('the request timed out while resolving its host');
    failed(`${host} could not be resolved${errCode(e)}`);
  }
  if (resolved.length === 0) failed(`${host} could not be resolved`);
  const addresses: string[] = [];
  for (const a of resolved) {
    const ip = canonicalIp(a);
    if (ip === undefined || !reachable(ip)) {
      refused(`${host} resolves to an internal address that the gateway's operator has not opened`);
    }
    if (!addresses.includes(ip)) addresses.push(ip);
  }
  return { url, addresses };
}

/**
 * A net.connect `lookup` that answers with the checked addresses only, whatever name it is
 * asked about: the socket connects to what was validated and DNS is never consulted again.
 */
export function pinnedLookup(addresses: readonly string[]): LookupFunction {
  const pinned = addresses.map((address) => ({ address, family: isIP(address) }));
  return (_hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const wanted = family === 4 || family === 6 ? pinned.filter((a) => a.family === family) : pinned;
    process.nextTick(() => {
      const first = wanted[0];
      if (first === undefined) {
        callback(Object.assign(new Error('no checked address of the requested family'), { code: 'ENOTFOUND' }), '');
      } else if (options.all === true) {
        callback(null, wanted.map((a) => ({ ...a })));
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
}

/** Sends one allow-listed request; throws LambdaError fetch_refused / fetch_failed. */
export async function performFetch(
  req: HttpRequest,
  allowlist: Allowlist,
  limits: FetchLimits = DEFAULT_FETCH_LIMITS,
  resolve: Resolver = systemResolver,
  internalAllow: readonly AddressRange[] = [],
): Promise<HttpResult> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  const { url, addresses } = await checkDestination(req.url, allowlist, resolve, signal, internalAllow);
  for (const [name, value] of Object.entries(req.headers)) {
    if (/[\r\n\0]/.test(value)) refused(`header ${name} contains a line break or NUL`);
  }
  const sendBody = req.method !== 'GET' && !(req.method === 'DELETE' && isEmptyObject(req.body));
  const headers: Record<string, string> = { 'user-agent': 'Tandem-Lambda/1', accept: 'application/json, text/plain;q=0.9, */*;q=0.1' };
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  if (sendBody && headers['content-type'] === undefined) headers['content-type'] = 'application/json';

  // One Agent per request, pinned to the checked addresses; destroyed however the request ends.
  const dispatcher = new Agent({ connect: { lookup: pinnedLookup(addresses) } });
  try {
    let res: Response;
    try {
      res = await fetch(url, { method: req.method, headers, body: sendBody ? JSON.stringify(req.body) : null, redirect: 'manual', signal, dispatcher });
    } catch (e) {
      if (signal.aborted) failed(`the request timed out after ${limits.timeoutMs} ms`);
      failed(`the request failed${errCode(e)}`);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      failed(`the server answered with a redirect (${res.status}); redirects are not followed`);
    }
    const bytes = await readCapped(res, limits, signal);
    return { status: res.status, body: decode(bytes, res.headers.get('content-type'), limits.maxBodyBytes) };
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

async function readCapped(res: Response, limits: FetchLimits, signal: AbortSignal): Promise<Uint8Array> {
  const tooBig = (): never => failed(`the response body exceeds ${limits.maxBodyBytes} bytes`);
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (res.body === null) return new Uint8Array(0);
  if (declared > limits.maxBodyBytes) {
    await res.body.cancel().catch(() => undefined);
    tooBig();
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limits.maxBodyBytes) {
        await reader.cancel().catch(() => undefined);
        tooBig();
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof LambdaError) throw e;
    if (signal.aborted) failed(`the request timed out after ${limits.timeoutMs} ms`);
    failed('the response body could not be read');
  }
  return Buffer.concat(chunks);
}

function decode(bytes: Uint8Array, contentType: string | null, maxBytes: number): JsonValue {
  const text = new TextDecoder('utf-8').decode(bytes);
  if (contentType === null || !/\bjson\b/i.test(contentType)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    failed('the response is labelled JSON but does not parse');
  }
  // Re-serialised JSON is never longer than the text it was parsed from; the bound is a backstop.
  return copyJson(parsed, { maxBytes: 2 * maxBytes, maxDepth: 32 }, 'the response body', 'fetch_failed');
}

function isEmptyObject(v: JsonValue): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** `: ECONNREFUSED` and the like; error codes only, never addresses or messages. */
function errCode(e: unknown): string {
  const code = (e as { cause?: { code?: unknown }; code?: unknown })?.cause?.code ?? (e as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code) ? ` (${code})` : '';
}
