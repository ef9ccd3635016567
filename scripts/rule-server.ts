import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { loadOrCreateSigningKey } from '../src/policy/node-signing-key.js';
import { NODE_ID_HEADER, REQUEST_SIGNATURE_HEADER, RESPONSE_SIGNATURE_HEADER, signRuleResponse, verifyNodeSignature } from '../src/policy/signatures.js';
import type { NodeSigningKey } from '../src/policy/types.js';

/**
 * An example Rule Server for webhook rules (node:http, no framework):
 *
 *   node dist/scripts/rule-server.js --port 7100 [--host 127.0.0.1] [--key <file>]
 *        [--nodes <file>] [--deny-prefix <hex>] [--delay-ms N]
 *
 * --key          its Ed25519 key (raw 32 bytes, created mode 0600 if absent); answers are
 *                then signed (x-tandem-rule-signature, tandem-rule-response/v2: over the
 *                SHA-256 of the exact request body received, so an answer is good for that
 *                request only). Prints "rule server public key: <hex>": give it as the
 *                rule's public_key.
 * --nodes        JSON file [{ "id", "public_key" }] of the nodes' signing keys; requests
 *                must then come from one of them, validly signed (x-tandem-signature), with
 *                the body's node_id the signer's and its timestamp within 5 minutes.
 *                Without it, requests are not authenticated.
 * --deny-prefix  hex: deny messages starting with it (repeatable); approve everything else.
 * --delay-ms     wait this long before answering (to exercise node timeouts).
 *
 * Prints "rule server listening on http://<host>:<port>" when ready, then one line per
 * decision. POST to any path.
 */

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

function usage(message: string): never {
  process.stderr.write(`rule-server: ${message}\n`);
  process.exit(2);
}

function parseCli() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', default: '7100' },
        host: { type: 'string', default: '127.0.0.1' },
        key: { type: 'string' },
        nodes: { type: 'string' },
        'deny-prefix': { type: 'string', multiple: true, default: [] },
        'delay-ms': { type: 'string', default: '0' },
      },
      strict: true,
    }).values;
  } catch (e) {
    usage((e as Error).message);
  }
}
const values = parseCli();

const port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
if (!(port >= 0 && port <= 65535)) usage('--port must be 0..65535');
const delayMs = /^\d{1,9}$/.test(values['delay-ms']) ? Number(values['delay-ms']) : NaN;
if (!Number.isInteger(delayMs)) usage('--delay-ms must be a non-negative integer (ms)');
const denyPrefixes = (values['deny-prefix'] ?? []).map((p) => {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(p)) usage('--deny-prefix must be hex of even length, without 0x');
  return p.toLowerCase();
});

async function readNodes(file: string): Promise<Map<string, string>> {
  const list: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!Array.isArray(list)) usage(`${file} must hold a JSON list of { "id", "public_key" }`);
  const nodes = new Map<string, string>();
  for (const n of list as Array<{ id?: unknown; public_key?: unknown }>) {
    if (typeof n.id !== 'string' || typeof n.public_key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(n.public_key)) {
      usage(`${file}: each entry is { "id": string, "public_key": 64 hex characters }`);
    }
    nodes.set(n.id, n.public_key.toLowerCase());
  }
  return nodes;
}

const key: NodeSigningKey | null = values.key ? await loadOrCreateSigningKey('rule-server', values.key) : null;
const nodes = values.nodes ? await readNodes(values.nodes) : null;

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `signFor`: the raw body of the request answered, when the answer is to be signed. */
function send(res: ServerResponse, status: number, answer: Record<string, unknown>, signFor?: Buffer): void {
  const body = Buffer.from(JSON.stringify(answer), 'utf8');
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(body.length) };
  if (key && signFor !== undefined) headers[RESPONSE_SIGNATURE_HEADER] = signRuleResponse(key, signFor, body);
  res.writeHead(status, headers);
  res.end(body);
}

/** Null when the request is authentic (or nodes are not checked), else why not. */
function authenticate(req: IncomingMessage, body: Buffer, request: Record<string, unknown>): string | null {
  if (nodes === null) return null;
  const nodeId = req.headers[NODE_ID_HEADER];
  const signature = req.headers[REQUEST_SIGNATURE_HEADER];
  if (typeof nodeId !== 'string' || typeof signature !== 'string') return 'unsigned request';
  const publicKey = nodes.get(nodeId);
  if (publicKey === undefined) return `unknown node ${JSON.stringify(nodeId.slice(0, 64))}`;
  if (!verifyNodeSignature(publicKey, body, signature)) return 'invalid request signature';
  if (request.node_id !== nodeId) return 'node_id does not match the signing node';
  const ts = typeof request.timestamp === 'string' ? Date.parse(request.timestamp) : NaN;
  if (!Number.isFinite(ts) || Math.abs(Date.now() - ts) > MAX_CLOCK_SKEW_MS) return 'timestamp missing or not within 5 minutes';
  return null;
}

function decide(request: Record<string, unknown>): { approved: boolean; reason?: string } {
  const msg = typeof request.msg === 'string' ? request.msg.toLowerCase() : '';
  const denied = denyPrefixes.find((p) => msg.startsWith(p));
  return denied === undefined ? { approved: true } : { approved: false, reason: `message starts with denied prefix ${denied}` };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') return send(res, 405, { approved: false, reason: 'POST only' });
  const body = await readBody(req);
  if (body === null) return send(res, 413, { approved: false, reason: 'request too large' });
  let request: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    request = parsed as Record<string, unknown>;
  } catch {
    return send(res, 400, { approved: false, reason: 'the body is not a JSON object' });
  }
  const requestId = typeof request.request_id === 'string' ? request.request_id : '';
  const ceremonyId = typeof request.ceremony_id === 'string' ? request.ceremony_id : null;
  const who = `request_id=${JSON.stringify(requestId)} ceremony_id=${JSON.stringify(ceremonyId)} node=${JSON.stringify(String(req.headers[NODE_ID_HEADER] ?? ''))}`;
  const unauthentic = authenticate(req, body, request);
  if (unauthentic !== null) {
    log(`${who} rejected: ${unauthentic}`);
    return send(res, 401, { approved: false, reason: unauthentic });
  }
  const decision = decide(request);
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  log(`${who} operation=${String(request.operation)} key_id=${String(request.key_id)} approved=${decision.approved}${decision.reason ? ` reason=${JSON.stringify(decision.reason)}` : ''}`);
  send(res, 200, { ...decision, request_id: requestId }, body);
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) send(res, 500, { approved: false, reason: 'internal error' });
    else res.destroy();
  });
});

server.on('error', (e) => {
  process.stderr.write(`rule-server: ${e.message}\n`);
  process.exit(1);
});
server.listen(port, values.host, () => {
  const address = server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  if (key) process.stdout.write(`rule server public key: ${key.publicKeyHex}\n`);
  if (nodes === null) process.stdout.write('rule server: no --nodes given, requests are not authenticated\n');
  process.stdout.write(`rule server listening on http://${values.host}:${actualPort}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
