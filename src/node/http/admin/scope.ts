import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import { TandemError } from '../../../core/errors.js';
import type { AuditLog } from '../../../storage/audit-log.js';
import type { PolicyStore } from '../../../storage/policy-store.js';
import type { NodeContext } from '../../ceremonies/context.js';

/** What the admin routes need of the node: its stores (the NodeStore only to evict a deleted user from its cache). */
export type AdminContext = Pick<NodeContext, 'store' | 'log'> & { policies: PolicyStore; audit: AuditLog };

export interface AdminRouteOptions {
  requireAdmin(req: FastifyRequest): Promise<void>;
}

/** What an admin mutation's audit entry names; the handler fills in what it learns (a new rule's id). */
export interface AuditRefs {
  keyId?: string;
  ruleId?: string;
  detail: Record<string, unknown>;
}

type TypedApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** What every group of admin routes registers with: the typed app, the node, the admin check, the audit wrapper. */
export interface AdminScope {
  r: TypedApp;
  ctx: AdminContext;
  tags: string[];
  onRequest: AdminRouteOptions['requireAdmin'];
  audited<T>(operation: string, refs: AuditRefs, fn: (refs: AuditRefs) => Promise<T>): Promise<T>;
}

export function adminScope(app: FastifyInstance, ctx: AdminContext, opts: AdminRouteOptions): AdminScope {
  /**
   * Runs one mutation and records it: 'ok', 'refused' (an API error: not found, in use,
   * duplicate, invalid) or 'failed' (anything else). The entry is appended after the
   * mutation commits; if that append fails the request fails (internal_problem) even
   * though the change stands, so a broken audit log can't go unnoticed.
   */
  async function audited<T>(operation: string, refs: AuditRefs, fn: (refs: AuditRefs) => Promise<T>): Promise<T> {
    const requestId = randomUUID();
    const entry = () => ({ requestId, actor: 'admin', operation, keyId: refs.keyId ?? null, ruleId: refs.ruleId ?? null });
    let out: T;
    try {
      out = await fn(refs);
    } catch (e) {
      const result = e instanceof TandemError ? 'refused' : 'failed';
      const err = e instanceof TandemError ? { err_type: e.type, err_msg: e.message } : { err_type: 'internal_problem' };
      await ctx.audit.append({ ...entry(), result, detail: { ...refs.detail, ...err } }).catch((ae: Error) => ctx.log(`audit append failed for ${operation}: ${ae.message}`));
      throw e;
    }
    await ctx.audit.append({ ...entry(), result: 'ok', detail: refs.detail });
    return out;
  }

  return { r: app.withTypeProvider<TypeBoxTypeProvider>(), ctx, tags: ['admin'], onRequest: opts.requireAdmin, audited };
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** A list's `limit` query: 100 by default, 1..1000. */
export function pageSize(limit: string | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  const n = Number(limit);
  if (n < 1 || n > MAX_PAGE) throw new TandemError('bad_request_params', `limit must be between 1 and ${MAX_PAGE}`);
  return n;
}
