import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Requests refused before any route, hook or error handler runs: by Fastify's router
 * (a path whose %-encoding does not decode, a path parameter over its maxParamLength) or by
 * Node's HTTP server (headers over maxHeaderSize, a request that is not HTTP, an Expect
 * header other than 100-continue). Left alone, Fastify and Node answer these in their own
 * formats; an API promises callers one format.
 */
export type FrameworkRefusal = 'bad_url' | 'param_too_long' | 'headers_too_large' | 'request_timeout' | 'malformed_request' | 'unmet_expectation';

/** What every API says about them; the apps put it into their own error format. */
export const REFUSAL_MESSAGES: Record<FrameworkRefusal, string> = {
  bad_url: 'the path is not valid %-encoded UTF-8',
  param_too_long: 'a path parameter is too long',
  headers_too_large: 'the request headers are too large',
  request_timeout: 'the request did not arrive in time',
  malformed_request: 'the request is not valid HTTP/1.1',
  unmet_expectation: 'the Expect header asks for something other than 100-continue',
};

/** The request as far as it was read: a parse error may come before its request line is known. */
export interface RefusedRequest {
  method?: string;
  /** Path and query as sent. */
  url?: string;
}

export interface RefusalAnswer {
  status: number;
  body: unknown;
}

export type RefusalFormat = (refusal: FrameworkRefusal, req: RefusedRequest) => RefusalAnswer;

const FRAMEWORK_CODES: Record<string, FrameworkRefusal> = {
  FST_ERR_BAD_URL: 'bad_url',
  FST_ERR_MAX_PARAM_LENGTH: 'param_too_long',
};

/** Node's parser errors: llhttp codes, and the request timeout of http.Server. */
function parserRefusal(code: string | undefined): FrameworkRefusal {
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'request_timeout';
  return 'malformed_request';
}

/** Sockets already answered: Node's parser reports an error again for every later chunk. */
const answered = new WeakSet<Socket>();
/** How long an answered socket may stay open for the client to read the answer. */
const LINGER_MS = 2000;

/**
 * Fastify server options (`frameworkErrors`, `clientErrorHandler`) that answer these
 * refusals with `format`. A parser error has no request object: its answer is written on
 * the socket, which is then closed, since the rest of what arrives can't be framed.
 */
export function frameworkRefusals(format: RefusalFormat) {
  return {
    frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
      const refusal = FRAMEWORK_CODES[err.code];
      // Only an async route constraint fails otherwise, and this code base has none.
      if (!refusal) return void reply.send(err);
      const a = format(refusal, { method: req.method, url: req.url });
      void reply.code(a.status).send(a.body);
    },

    clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      if (answered.has(socket)) return;
      answered.add(socket);
      // As Node does it: an answer already under way on this socket must not be corrupted.
      const inFlight = (socket as unknown as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !inFlight?.headersSent) {
        const a = format(parserRefusal(err.code), requestLineOf(err.rawPacket));
        const body = JSON.stringify(a.body);
        socket.end(
          `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? ''}\r\n` +
            `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      // end() lets the answer out, and reading on keeps the unread rest of the request from
      // turning the close into a reset that could discard it; a client that never closes is cut.
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    },
  };
}

/**
 * Node answers an Expect header other than 100-continue with its own 417 unless the server
 * listens for 'checkExpectation'; then no route runs and the answer is written here.
 */
export function refuseUnmetExpectations(server: Server, format: RefusalFormat): void {
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const a = format('unmet_expectation', { ...(req.method ? { method: req.method } : {}), ...(req.url ? { url: req.url } : {}) });
    res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    res.end(JSON.stringify(a.body));
  });
}

/** The method and target of the request line, when the failing packet begins with one. */
function requestLineOf(packet: unknown): RefusedRequest {
  if (!Buffer.isBuffer(packet)) return {};
  const m = /^([A-Z]{1,16}) (\S{1,2048}) HTTP\/1\.[01]\r?\n/.exec(packet.subarray(0, 2100).toString('latin1'));
  return m ? { method: m[1]!, url: m[2]! } : {};
}
