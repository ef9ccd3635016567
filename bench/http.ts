import { Agent, request } from 'node:http';

/**
 * A minimal JSON-over-HTTP client on node:http with keep-alive, so the bench measures
 * the cluster rather than connection setup or a heavier client stack.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
    this.name = 'HttpError';
  }
}

export function call<T>(method: 'GET' | 'POST', url: string, auth: string | undefined, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = {};
  if (auth) headers.authorization = auth;
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = payload.length;
  }
  return new Promise<T>((resolve, reject) => {
    const req = request(url, { method, agent, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new HttpError(res.statusCode ?? 0, text));
        try {
          resolve(JSON.parse(text) as T);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export function closeHttp(): void {
  agent.destroy();
}
