import { isIP } from 'node:net';
import { parseAddressRanges } from './lambda/addresses.js';

/**
 * Who a caller is, for the per-address limits. The address is the TCP peer's, unless that
 * peer is one of the operator's proxies (TANDEM_TRUSTED_PROXIES): then Fastify (proxy-addr)
 * walks X-Forwarded-For from the right and takes the first hop that is not a trusted proxy.
 * A header from anyone else is ignored, so a client can't pick its own address.
 *
 * IPv6 callers are counted per /64: one host usually holds a whole /64 and could otherwise
 * take a fresh bucket per address. IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address.
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head, tail] = ip.toLowerCase().split('%')[0]!.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** TANDEM_TRUSTED_PROXIES: addresses or CIDR ranges, comma-separated; a malformed entry stops the start. */
export function parseTrustedProxies(text: string | undefined): string[] {
  const list = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  try {
    parseAddressRanges(list);
  } catch (e) {
    throw new Error(`TANDEM_TRUSTED_PROXIES: ${(e as Error).message}`);
  }
  return list;
}
