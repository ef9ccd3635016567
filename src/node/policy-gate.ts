import { randomUUID } from 'node:crypto';
import { evaluatePolicies } from '../policy/evaluate.js';
import type { NodeSigningKey, Operation, OperationContext, RuleCounters } from '../policy/types.js';
import { TandemError } from '../shared/errors.js';
import { toHex } from '../shared/hex.js';
import type { UserId } from '../shared/ids.js';
import type { AuditLog } from '../storage/audit-log.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { KeyFamily, KeyRecord } from '../storage/store.js';

/**
 * This node's own decision on an operation, before it contributes anything: the caller's
 * policy and the key's policy, every rule of both, on this node's rules only. A batch is
 * decided message by message. The decision goes to the audit log either way.
 */
export interface AuthorizeRequest {
  operation: Operation;
  family: KeyFamily;
  userId: UserId;
  /** null for keygen. */
  key: KeyRecord | null;
  msgs?: Uint8Array[];
  /** Non-hardened derivation indices; empty or absent = the key itself. */
  path?: number[];
  derivedPublicKey?: Uint8Array;
  extraData?: Uint8Array;
  /**
   * The ceremony this decision belongs to: the audit entry's request id and the Rule
   * Server's `ceremony_id`, never the Rule Server's `request_id` (webhook.ts makes that fresh).
   */
  ceremonyId?: string;
}

export class PolicyGate {
  constructor(
    private readonly deps: {
      nodeId: string;
      policies: Pick<PolicyStore, 'policiesFor'>;
      counters: RuleCounters;
      signer: NodeSigningKey;
      audit: Pick<AuditLog, 'append'>;
    },
  ) {}

  async authorize(req: AuthorizeRequest): Promise<void> {
    const bound = await this.deps.policies.policiesFor(req.userId, req.key?.keyId ?? null);
    const base = {
      requestId: req.ceremonyId ?? randomUUID(),
      actor: req.userId,
      operation: 'policy-decision',
      ...(req.key ? { keyId: req.key.keyId } : {}),
    };
    if (bound.length === 0) {
      await this.deps.audit.append({ ...base, result: 'ok', detail: { operation: req.operation, policies: [] } });
      return;
    }
    const msgs: Array<Uint8Array | null> = req.msgs && req.msgs.length > 0 ? req.msgs : [null];
    for (const [i, msg] of msgs.entries()) {
      const ctx: OperationContext = {
        ceremonyId: req.ceremonyId ?? null,
        operation: req.operation,
        keyFamily: req.family,
        keyId: req.key?.keyId ?? null,
        publicKey: req.key ? toHex(req.key.publicKey) : null,
        derivationPath: req.path && req.path.length > 0 ? ['m', ...req.path].join('/') : null,
        derivedPublicKey: req.derivedPublicKey ? toHex(req.derivedPublicKey) : null,
        msg: msg ? toHex(msg) : null,
        extraData: req.extraData && req.extraData.length > 0 ? toHex(req.extraData) : null,
        userId: req.userId,
        nodeId: this.deps.nodeId,
        timestamp: new Date().toISOString(),
      };
      const decision = await evaluatePolicies(bound, ctx, { counters: this.deps.counters, signer: this.deps.signer });
      if (!decision.allowed) {
        await this.deps.audit.append({
          ...base,
          ruleId: decision.ruleId,
          result: 'refused',
          detail: { operation: req.operation, message_index: i, rule: decision.ruleName, reason: decision.reason },
        });
        throw new TandemError('policy_validation_failed', `${this.deps.nodeId}: rule "${decision.ruleName}" (${decision.ruleId}) refused: ${decision.reason}`, decision.ruleId);
      }
    }
    await this.deps.audit.append({ ...base, result: 'ok', detail: { operation: req.operation, policies: bound.map((b) => b.policy.policyId), messages: msgs.length } });
  }
}
