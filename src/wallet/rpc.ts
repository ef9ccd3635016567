/**
 * JSON-RPC 2.0 as the Passport SDK speaks it. Every failure is an HTTP 200 with an
 * `error` member: the SDK (axios) throws away the body of any non-2xx answer, so a
 * status code would hide the reason from the app.
 */
export type RpcId = string | number | null;

export interface RpcRequest {
  id: RpcId;
  method: string;
  params: unknown;
}

/** Standard codes (-32700..-32600) and Tandem's own server codes (-32000..-32099). */
export const RPC_CODES = {
  parse_error: -32700,
  invalid_request: -32600,
  method_not_found: -32601,
  invalid_params: -32602,
  internal_error: -32603,
  unauthorized: -32001,
  user_not_found: -32002,
  invalid_challenge: -32003,
  username_taken: -32004,
  scope_not_found: -32005,
  origin_not_allowed: -32006,
  bad_encryption: -32007,
  signing_failed: -32008,
  lambda_failed: -32009,
  forbidden: -32010,
} as const;

export type RpcErrorKind = keyof typeof RPC_CODES;

/**
 * An error whose message is safe to show the client. `kind` also travels as the error's
 * `data`, a stable machine-readable name (the SDK prints both message and data).
 */
export class RpcError extends Error {
  constructor(
    readonly kind: RpcErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export function rpcResult(id: RpcId, result: unknown) {
  return { jsonrpc: '2.0' as const, id, result };
}

export function rpcError(id: RpcId, err: RpcError) {
  return { jsonrpc: '2.0' as const, id, error: { code: RPC_CODES[err.kind], message: err.message, data: err.kind } };
}

/** Validates the envelope; the params are each method's business. */
export function parseRpcRequest(body: unknown): RpcRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    // Batches are not part of the Passport API; refusing them keeps one request one operation.
    throw new RpcError('invalid_request', 'the body must be one JSON-RPC 2.0 request object');
  }
  const b = body as Record<string, unknown>;
  if (b.jsonrpc !== '2.0') throw new RpcError('invalid_request', 'jsonrpc must be "2.0"');
  if (typeof b.method !== 'string' || b.method.length === 0 || b.method.length > 64) {
    throw new RpcError('invalid_request', 'method must be a non-empty string');
  }
  return { id: idOf(b), method: b.method, params: b.params ?? [] };
}

export function idOf(body: unknown): RpcId {
  if (typeof body !== 'object' || body === null) return null;
  const id = (body as Record<string, unknown>).id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
