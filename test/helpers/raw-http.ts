import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: string;
  body: string;
}

/**
 * Sends `request` as written on one fresh socket and reads the answer until the server
 * closes or `timeoutMs` passes: for requests fetch would refuse to send or would rewrite
 * (an oversized header, a broken request line), and to see what the server writes itself.
 */
export function rawHttp(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      // Interim answers (100 Continue) come before the real one.
      const text = Buffer.concat(chunks).toString('utf8').replace(/^(?:HTTP\/1\.1 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+/, '');
      const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(m[1]), headers: m[2]!, body: dechunk(m[2]!, m[3]!) });
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (d) => {
      chunks.push(d);
      // A complete answer with a Content-Length needs no close to end it.
      const text = Buffer.concat(chunks).toString('utf8').replace(/^(?:HTTP\/1\.1 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+/, '');
      const head = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head));
      if (head >= 0 && len && Buffer.byteLength(text.slice(head + 4)) >= Number(len[1])) done();
    });
    // The server may answer and close while we still write: what it wrote is the answer.
    socket.on('error', () => done());
    socket.on('close', () => done());
    socket.write(request);
  });
}

function dechunk(headers: string, body: string): string {
  if (!/transfer-encoding: *chunked/i.test(headers)) return body;
  let out = '';
  let rest = body;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, nl), 16);
    if (!(size > 0)) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

/** A request as bytes on the wire, so nothing between the test and the server rewrites it. */
export function request(method: string, target: string, headers: Record<string, string>, body?: string | Buffer): Buffer {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body ?? '')]);
}
