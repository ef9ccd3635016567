import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { WebSocket } from 'ws';
import type { RelayFrame } from '../../src/relay/protocol.js';
import { until } from './wait.js';

/** A bare socket to a relay, to send what a relay client never would; `next` waits up to `frameWaitMs` for a frame. */
export async function rawRelaySocket(t: TestContext, url: string, frameWaitMs: number) {
  const ws = new WebSocket(url);
  const frames: RelayFrame[] = [];
  ws.on('message', (raw) => frames.push(JSON.parse(String(raw)) as RelayFrame));
  ws.on('error', () => {});
  // Not events.once: it would reject on an 'error' event, unhandled where nobody awaits `closed`.
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await once(ws, 'open');
  t.after(() => ws.terminate());
  let seen = 0;
  return {
    ws,
    closed,
    send: (frame: unknown) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    async next(): Promise<RelayFrame> {
      await until(() => frames.length > seen, 'a relay frame', frameWaitMs);
      return frames[seen++]!;
    },
  };
}
