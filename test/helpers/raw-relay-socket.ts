import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { WebSocket } from 'ws';
import type { RelayFrame } from '../../src/relay/protocol.js';
import { until } from './wait.js';

/**
 * A bare socket to a relay, to send what a relay client never would; `next` waits up to
 * `frameWaitMs` for a frame. The relay's `hello` is kept apart (`challenge()`), so `next`
 * sees the answers to what the test sent.
 */
export async function rawRelaySocket(t: TestContext, url: string, frameWaitMs: number) {
  const ws = new WebSocket(url);
  const frames: RelayFrame[] = [];
  let challenge: string | undefined;
  ws.on('message', (raw) => {
    const frame = JSON.parse(String(raw)) as RelayFrame;
    if (frame.t === 'hello' && challenge === undefined) challenge = frame.challenge;
    else frames.push(frame);
  });
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
    /** The relay's challenge for this socket (what a node's join signature covers). */
    async challenge(): Promise<string> {
      await until(() => challenge !== undefined, 'the relay hello', frameWaitMs);
      return challenge!;
    },
    async next(): Promise<RelayFrame> {
      await until(() => frames.length > seen, 'a relay frame', frameWaitMs);
      return frames[seen++]!;
    },
  };
}
