import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Is an IP address on the public internet? Everything else (loopback, private, link-local,
 * CGNAT, multicast, documentation and benchmarking ranges, NAT64/6to4/Teredo wrappers that
 * can smuggle an IPv4 address, unspecified, broadcast and reserved space) counts as
 * internal, and so do this host's own addresses (isInternalAddress). Only the gateway's
 * operator opens internal ranges (TANDEM_LAMBDA_INTERNAL_ALLOW, parseAddressRanges); a
 * scope's allowlist cannot, since anyone can make a scope.
 *
 * Written out rather than using net.BlockList: a BlockList holding an IPv6 rule for
 * ::ffff:0:0/96 also matches every plain IPv4 address, which is easy to get wrong.
 */

const V4_INTERNAL: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

/** Inside global unicast 2000::/3, the blocks that are not ordinary public hosts. */
const V6_INTERNAL_IN_GLOBAL: [string, number][] = [
  ['2001::', 23], // IETF protocol assignments, Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (wraps any IPv4 address)
  ['3fff::', 20], // documentation
];

function v4ToInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** 128-bit value of an IPv6 address (accepts `::` and a trailing dotted quad). */
function v6ToInt(ip: string): bigint {
  let text = ip.toLowerCase().split('%')[0] as string;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v = v4ToInt(quad[1] as string);
    text = `${text.slice(0, -(quad[1] as string).length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function inRange(value: bigint, bits: number, base: bigint, prefix: number): boolean {
  const shift = BigInt(bits - prefix);
  return value >> shift === base >> shift;
}

const V4_RANGES = V4_INTERNAL.map(([b, p]) => [v4ToInt(b), p] as const);
const V6_RANGES = V6_INTERNAL_IN_GLOBAL.map(([b, p]) => [v6ToInt(b), p] as const);

function publicV4(v: bigint): boolean {
  return !V4_RANGES.some(([base, prefix]) => inRange(v, 32, base, prefix));
}

export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip.split('%')[0] as string);
  if (family === 4) return publicV4(v4ToInt(ip));
  if (family !== 6) return false;
  const v = v6ToInt(ip);
  // IPv4-mapped (::ffff:a.b.c.d): judge the IPv4 address it carries.
  if (inRange(v, 128, 0xffffn << 32n, 96)) return publicV4(v & 0xffffffffn);
  if (!inRange(v, 128, 0x2000n << 112n, 3)) return false; // outside global unicast 2000::/3
  return !V6_RANGES.some(([base, prefix]) => inRange(v, 128, base, prefix));
}

/** One spelling per address, so `::1`, `0::1` and `[::1]` compare equal. */
export function canonicalIp(ip: string): string | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const family = isIP(bare);
  if (family === 4) return new URL(`http://${bare}/`).hostname;
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return undefined;
}

/** This host's interface addresses, canonical: a public one would otherwise pass isPublicAddress. */
export function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = canonicalIp(a.address);
      if (ip !== undefined) own.add(ip);
    }
  }
  return own;
}

export function isInternalAddress(ip: string): boolean {
  const c = canonicalIp(ip);
  return c === undefined || !isPublicAddress(c) || ownAddresses().has(c);
}

/** A CIDR range the operator opened; IPv4-mapped IPv6 addresses are matched as the IPv4 address they carry. */
export interface AddressRange {
  family: 4 | 6;
  base: bigint;
  prefix: number;
  text: string;
}

/**
 * The operator's list (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`, `::1`; a bare address is one
 * host). Throws a TypeError naming the bad entry: this is configuration, checked at start.
 */
export function parseAddressRanges(entries: readonly string[]): AddressRange[] {
  return entries.map((raw) => {
    const text = raw.trim();
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text);
    const family = m ? isIP(m[1] as string) : 0;
    const max = family === 4 ? 32 : 128;
    const prefix = m?.[2] === undefined ? max : Number(m[2]);
    if (!m || (family !== 4 && family !== 6) || prefix > max) throw new TypeError(`${JSON.stringify(raw)} is not an IP address or CIDR range`);
    const base = family === 4 ? v4ToInt(m[1] as string) : v6ToInt(m[1] as string);
    return { family, base, prefix, text };
  });
}

export function inAddressRanges(ip: string, ranges: readonly AddressRange[]): boolean {
  if (ranges.length === 0) return false;
  const family = isIP(ip);
  if (family !== 4 && family !== 6) return false;
  const v = family === 4 ? v4ToInt(ip) : v6ToInt(ip);
  const mapped = family === 6 && inRange(v, 128, 0xffffn << 32n, 96);
  return ranges.some((r) => {
    if (r.family === family && inRange(v, r.family === 4 ? 32 : 128, r.base, r.prefix)) return true;
    return mapped && r.family === 4 && inRange(v & 0xffffffffn, 32, r.base, r.prefix);
  });
}
