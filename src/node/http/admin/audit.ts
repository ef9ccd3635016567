import { TandemError } from '../../../core/errors.js';
import { auditFields, type AuditEntry } from '../../../storage/audit-log.js';
import {
  AuditListResponse,
  AuditQuery,
  AuditVerifyQuery,
  AuditVerifyResponse,
} from '../../../api/policy-schemas.js';
import { errorResponses } from '../../../api/schemas.js';
import { pageSize, type AdminScope } from './scope.js';

const auditBody = (e: AuditEntry) => ({ ...auditFields(e), hash: e.hash });

/** The admin API's the audit log: read a page, verify the hash chain. */
export function registerAuditRoutes(s: AdminScope): void {
  const { ctx, r, tags, onRequest } = s;

  r.get(
    '/admin/audit',
    { onRequest, schema: { tags, summary: 'Read this node\'s audit log, oldest first, a page at a time (admin only)', querystring: AuditQuery, response: { 200: AuditListResponse, ...errorResponses } } },
    async (req) => {
      const limit = pageSize(req.query.limit);
      const entries = await ctx.audit.list(Number(req.query.after_seq ?? '0'), limit);
      const last = entries[entries.length - 1];
      return { entries: entries.map(auditBody), next_after_seq: entries.length === limit && last ? last.seq : null };
    },
  );

  r.get(
    '/admin/audit/verify',
    {
      onRequest,
      schema: {
        tags,
        summary: 'Verify this node\'s audit log hash chain (admin only)',
        description: 'Detects altered, removed, inserted or reordered entries. Entries cut off the end leave a valid shorter chain: record the returned head (and entries) elsewhere and pass them back as anchor_seq/anchor_hash to detect that.',
        querystring: AuditVerifyQuery,
        response: { 200: AuditVerifyResponse, ...errorResponses },
      },
    },
    async (req) => {
      const { anchor_seq, anchor_hash } = req.query;
      if ((anchor_seq === undefined) !== (anchor_hash === undefined)) throw new TandemError('bad_request_params', 'anchor_seq and anchor_hash go together');
      const result = await ctx.audit.verify(anchor_seq !== undefined && anchor_hash !== undefined ? { seq: Number(anchor_seq), hash: anchor_hash } : undefined);
      return result.ok ? { ok: true, entries: result.entries, head: result.head } : { ok: false, first_bad_seq: result.firstBadSeq, reason: result.reason };
    },
  );
}
