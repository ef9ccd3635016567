import { createServer, type Server } from 'node:http';

/**
 * A round-robin HTTP load balancer in front of gateway copies, as a deployment would have:
 * each request to the next copy; a copy that refuses the connection (it never saw the
 * request, so sending it elsewhere is safe) is skipped. `served` lists which copy answered.
 */
export function balancer(targets: string[]): { server: Server; served: string[]; retried: () => number } {
  const served: string[] = [];
  let next = 0;
  let retried = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', async () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length' && k !== 'connection') headers[k] = v;
      const first = next++;
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(first + i) % targets.length]!;
        try {
          const up = await fetch(`${target}${req.url}`, {
            method: req.method!,
            headers,
            ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
            signal: AbortSignal.timeout(60_000),
          });
          served.push(target);
          res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await up.arrayBuffer()));
          return;
        } catch (e) {
          if ((e as { cause?: { code?: string } }).cause?.code !== 'ECONNREFUSED') break;
          retried++;
        }
      }
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"no gateway copy answered"}');
    });
  });
  return { server, served, retried: () => retried };
}
