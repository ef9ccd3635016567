import { relayUrl } from '../relay/client.js';

/**
 * The answer to any relay a node does not trust. One fixed text, whatever the address: a
 * refusal that varied with it (or a connection attempt whose error came back) would let a
 * caller use the node to probe which hosts and ports answer.
 */
export const UNTRUSTED_RELAY_MESSAGE = 'relay_address is not a relay this node trusts';

/**
 * The relays a node will connect to: its own relay, its fallback relays and the operator's
 * TANDEM_TRUSTED_RELAYS. A relay sees who talks to whom and when, and can drop anything, so
 * neither a caller (relay_address) nor a coordinator (an invitation's relay) may pick another.
 * Addresses are compared as written, the host case-insensitively: no DNS lookup, so a name
 * and its IP address are two different entries.
 */
export class TrustedRelays {
  readonly #addresses: ReadonlySet<string>;

  constructor(addresses: Iterable<string>) {
    this.#addresses = new Set([...addresses].map(canonical));
  }

  has(address: string): boolean {
    return this.#addresses.has(canonical(address));
  }
}

/** TANDEM_TRUSTED_RELAYS: comma-separated host:port; a malformed entry stops the node at start. */
export function trustedRelaysFrom(text: string | undefined): string[] {
  const addresses = (text ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  for (const a of addresses) {
    try {
      relayUrl(a);
    } catch (e) {
      throw new Error(`TANDEM_TRUSTED_RELAYS: ${(e as Error).message}`);
    }
  }
  return addresses;
}

function canonical(address: string): string {
  return address.toLowerCase();
}
