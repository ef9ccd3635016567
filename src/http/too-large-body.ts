import type { IncomingMessage } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Fastify refuses a body over its limit as soon as the Content-Length says so, then closes
 * the socket while the client may still be writing; the client then sees a reset instead
 * of the refusal (undici's fetch did, on a busy machine). So a body up to DRAIN_LIMIT is
 * read to its end first and the connection is kept; a longer or slower one is still cut.
 */
const DRAIN_LIMIT = 16 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

export async function keepConnectionAfterTooLarge(raw: IncomingMessage, reply: FastifyReply): Promise<void> {
  if (await drained(raw)) reply.removeHeader('connection');
}

function drained(raw: IncomingMessage): Promise<boolean> {
  if (raw.readableEnded) return Promise.resolve(true);
  if (Number(raw.headers['content-length'] ?? 0) > DRAIN_LIMIT) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    let seen = 0;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      raw.off('data', onData).off('end', onEnd).off('error', onError);
      resolve(ok);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT) finish(false);
    };
    const onEnd = () => finish(true);
    const onError = () => finish(false);
    const timer = setTimeout(() => finish(false), DRAIN_TIMEOUT_MS);
    raw.on('data', onData).on('end', onEnd).on('error', onError);
    raw.resume();
  });
}
