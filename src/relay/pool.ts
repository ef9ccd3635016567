import type { JoinSigner } from './connection.js';
import { RelayClient, relayUrl } from './client.js';

/** One lazily opened RelayClient per relay address, reopened on the first `get` after it drops. */
export class RelayPool {
  private readonly clients = new Map<string, Promise<RelayClient>>();

  /** A node's pool has its `signer`: every relay it opens admits its joins as that node. */
  constructor(private readonly opts: { timeoutMs?: number; signer?: JoinSigner } = {}) {}

  get(address: string): Promise<RelayClient> {
    const existing = this.clients.get(address);
    if (existing) return existing;
    const connecting: Promise<RelayClient> = this.open(address).then(
      (client) => {
        // Identity check: after closeAll() or a reconnect, a newer entry may hold the slot.
        client.onClose(() => {
          if (this.clients.get(address) === connecting) this.clients.delete(address);
        });
        return client;
      },
      (err: unknown) => {
        if (this.clients.get(address) === connecting) this.clients.delete(address);
        throw err;
      },
    );
    this.clients.set(address, connecting);
    return connecting;
  }

  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    // A connect that failed has nothing to close; its caller already saw the error.
    await Promise.all(all.map((p) => p.then((client) => client.close(), () => undefined)));
  }

  /** async so that an invalid address surfaces as a rejection, like a failed connect. */
  private async open(address: string): Promise<RelayClient> {
    return RelayClient.connect(relayUrl(address), this.opts);
  }
}
