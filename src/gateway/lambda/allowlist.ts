import { isIP } from 'node:net';
import { canonicalIp } from './addresses.js';
import { LambdaError } from './errors.js';

/**
 * Where a scope's lambdas may send requests. Entries:
 *
 *   api.example.com         that host, on the scheme's default port (443 / 80) only
 *   api.example.com:8443    that host on that port only
 *   *.example.com[:port]    any subdomain (a.example.com, a.b.example.com), not example.com
 *                           itself; the suffix needs at least two labels (no `*.com`)
 *   203.0.113.7[:port]      an IPv4 address
 *   [2001:db8::1][:port]    an IPv6 address
 *
 * Without a port an entry means the default port, so allow-listing a host does not open its
 * other services. Wildcards never match IP literals. An entry admits a URL, never an
 * internal address: a name that resolves to one, or an internal IP literal, is refused
 * unless the gateway's operator opened that range (see fetcher.ts), because anyone can
 * create a scope and write its allowlist.
 */

export interface AllowEntry {
  /** Lower-case host name, wildcard suffix (without `*.`) or canonical IP. */
  host: string;
  kind: 'name' | 'wildcard' | 'ip';
  port: number | undefined;
}

export interface Allowlist {
  entries: readonly AllowEntry[];
}

export const MAX_ALLOWLIST_ENTRIES = 64;
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const NAME_RE = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

function invalid(entry: string): never {
  throw new LambdaError('invalid_input', `fetch allowlist entry ${JSON.stringify(entry.slice(0, 80))} is not host, host:port, *.suffix or an IP address`);
}

function parseEntry(raw: string): AllowEntry {
  if (typeof raw !== 'string' || raw.length > 300) invalid(String(raw));
  const s = raw.trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m) invalid(raw);
  const [, hostPart, portText] = m as unknown as [string, string, string | undefined];
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535)) invalid(raw);
  const ip = canonicalIp(hostPart);
  if (ip !== undefined) return { host: ip, kind: 'ip', port };
  if (hostPart.startsWith('*.')) {
    const suffix = hostPart.slice(2);
    if (!NAME_RE.test(suffix) || !suffix.includes('.')) invalid(raw);
    return { host: suffix, kind: 'wildcard', port };
  }
  if (!NAME_RE.test(hostPart) || /^[\d.]+$/.test(hostPart)) invalid(raw);
  return { host: hostPart, kind: 'name', port };
}

/** Validates the caller's list (scope config); throws LambdaError('invalid_input'). */
export function parseAllowlist(entries: readonly string[]): Allowlist {
  if (!Array.isArray(entries) || entries.length > MAX_ALLOWLIST_ENTRIES) {
    throw new LambdaError('invalid_input', `the fetch allowlist must be a list of at most ${MAX_ALLOWLIST_ENTRIES} entries`);
  }
  return { entries: entries.map(parseEntry) };
}

/** The URL's host as the allowlist sees it: lower case, no trailing dot, IPs canonical. */
export function urlHost(url: URL): { host: string; isIp: boolean; port: number } {
  const name = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname;
  const ip = canonicalIp(name);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { host: ip ?? name, isIp: ip !== undefined || isIP(name) !== 0, port };
}

export function findAllowEntry(url: URL, list: Allowlist): AllowEntry | undefined {
  const { host, isIp, port } = urlHost(url);
  const defaultPort = url.protocol === 'https:' ? 443 : 80;
  return list.entries.find((e) => {
    const portOk = e.port === undefined ? port === defaultPort : port === e.port;
    if (!portOk) return false;
    if (e.kind === 'ip') return isIp && host === e.host;
    if (isIp) return false;
    return e.kind === 'name' ? host === e.host : host.endsWith(`.${e.host}`);
  });
}
