import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

/** A request as a stand-in node read it, body whole. */
export interface SeenRequest {
  path: string;
  authorization: string;
  body: string;
}

export type StandInHandler = (req: SeenRequest, res: ServerResponse) => void;

export interface StandInNode {
  url: string;
  /** Every request whose body arrived, in order. */
  seen: SeenRequest[];
  /** `hits`: requests that arrived (a body may still be on its way); `closedUnanswered`: connections closed before an answer. */
  state: { hits: number; closedUnanswered: number };
  close(): Promise<void>;
}

const running = new Set<StandInNode>();
after(async () => {
  await Promise.all([...running].map((n) => n.close()));
});

/**
 * An HTTP server on port 0 standing in for a signer node, for the clients of nodes (the
 * SDK's, the gateway's): it records what it is asked, and `handler` answers, or nothing does
 * and the request hangs. Closed when the test file ends.
 */
export async function standInNode(handler?: StandInHandler): Promise<StandInNode> {
  const seen: SeenRequest[] = [];
  const state = { hits: 0, closedUnanswered: 0 };
  const server = createServer((req, res) => {
    state.hits++;
    let body = '';
    req.on('data', (d) => (body += String(d)));
    res.on('close', () => {
      if (!res.writableFinished) state.closedUnanswered++;
    });
    req.on('end', () => {
      const r = { path: req.url ?? '', authorization: String(req.headers.authorization ?? ''), body };
      seen.push(r);
      handler?.(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const node: StandInNode = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    state,
    close: async () => {
      running.delete(node);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  running.add(node);
  return node;
}

/** The address of a node that is not there (a port that was just closed). */
export async function closedPort(): Promise<string> {
  const s = await standInNode();
  await s.close();
  return s.url;
}
