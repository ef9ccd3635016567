/** What the relay benchmarks need of a relay client: the node's RelayClient and the SDK's RelayConnection both fit. */
export interface RelayPeer {
  join(room: string, party: string, onMessage: (from: string, data: Uint8Array) => void): Promise<void>;
  send(room: string, from: string, to: string, data: Uint8Array): void;
  close(): Promise<void>;
}

/**
 * Parties `a` and `b` joined to `room` (each client may be on a relay of its own): b echoes
 * each message during round trips and counts them during bursts. Closing the pair closes
 * both clients.
 */
export async function relayPair(a: RelayPeer, b: RelayPeer, room: string, [pa, pb]: [string, string] = ['a', 'b']) {
  let onA: () => void = () => {};
  let onB: 'echo' | (() => void) = 'echo';
  await a.join(room, pa, () => onA());
  await b.join(room, pb, (from, data) => (onB === 'echo' ? b.send(room, pb, from, data) : onB()));
  return {
    /** a -> b -> a, b sending back what it got; ms per round trip. */
    async roundTrips(payload: Uint8Array, warmup: number, n: number): Promise<number[]> {
      onB = 'echo';
      const once = () =>
        new Promise<void>((resolve) => {
          onA = resolve;
          a.send(room, pa, pb, payload);
        });
      for (let i = 0; i < warmup; i++) await once();
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await once();
        out.push(performance.now() - t0);
      }
      return out;
    },
    /** a sends `n` messages back to back; ms until b has all of them, and CPU ms per message. */
    async burst(payload: Uint8Array, n: number): Promise<{ ms: number; cpuMs: number }> {
      let got = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const done = new Promise<void>((resolve) => {
        onB = () => {
          if (++got === n) resolve();
        };
      });
      for (let i = 0; i < n; i++) a.send(room, pa, pb, payload);
      await done;
      const elapsed = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      return { ms: elapsed, cpuMs: (cpu.user + cpu.system) / 1000 / n };
    },
    close: () => Promise.all([a.close(), b.close()]),
  };
}
