import { randomUUID } from 'node:crypto';
import { evaluatePoliciesBatch, releaseBudgets } from '../policy/evaluate.js';
import type { Budget } from '../policy/declarative.js';
import type { NodeSigningKey, Operation, OperationContext, RuleCounters } from '../policy/types.js';
import { TandemError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { UserId } from '../core/ids.js';
import type { AuditLog } from '../storage/audit-log.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { KeyFamily } from '../core/families.js';
import type { KeyRecord } from '../storage/store.js';

/**
 * This node's own decision on an operation, before it contributes anything: the caller's
 * policy and the key's policy, every rule of both, on this node's rules only. Every message
 * of a batch must pass before any budget is taken, and then the batch's budgets are taken
 * all at once or not at all. The decision goes to the audit log either way.
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

/**
 * The budgets (rate limits, daily caps) an approval took. A budget is spent on what the
 * node actually contributed to: the ceremony keeps the reservation once its part can no
 * longer be taken back (the coordinator's signature produced, a participant's last share
 * sent), and releases it when the node was not selected or the ceremony failed before.
 */
export interface Reservation {
  /** The budget stays spent; a release after this does nothing. */
  keep(): void;
  /** Gives the budget back (once; never after keep). Never throws: a failed give-back leaves it spent, the safe side. */
  release(why: string): Promise<void>;
  /** Runs `work`, keeping the reservation if it succeeds and releasing it if it throws. */
  settle<T>(work: () => Promise<T>): Promise<T>;
}

/** A reservation of nothing: for an approval that took no budget (and for tests' contexts). */
export function emptyReservation(): Reservation {
  return { keep: () => {}, release: async () => {}, settle: (work) => work() };
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

  async authorize(req: AuthorizeRequest): Promise<Reservation> {
    const bound = await this.deps.policies.policiesFor(req.userId, req.key?.keyId ?? null);
    const base = {
      requestId: req.ceremonyId ?? randomUUID(),
      actor: req.userId,
      operation: 'policy-decision',
      ...(req.key ? { keyId: req.key.keyId } : {}),
    };
    if (bound.length === 0) {
      await this.deps.audit.append({ ...base, result: 'ok', detail: { operation: req.operation, policies: [] } });
      return this.reservation(base, []);
    }
    const msgs: Array<Uint8Array | null> = req.msgs && req.msgs.length > 0 ? req.msgs : [null];
    const ctxs = msgs.map((msg): OperationContext => ({
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
    }));
    const decision = await evaluatePoliciesBatch(bound, ctxs, { counters: this.deps.counters, signer: this.deps.signer });
    if (!decision.allowed) {
      const where = decision.messageIndex === null ? { messages: msgs.length } : { message_index: decision.messageIndex };
      await this.deps.audit.append({
        ...base,
        ruleId: decision.ruleId,
        result: 'refused',
        detail: { operation: req.operation, ...where, rule: decision.ruleName, reason: decision.reason },
      });
      throw new TandemError('policy_validation_failed', `${this.deps.nodeId}: rule "${decision.ruleName}" (${decision.ruleId}) refused: ${decision.reason}`, decision.ruleId);
    }
    try {
      await this.deps.audit.append({ ...base, result: 'ok', detail: { operation: req.operation, policies: bound.map((b) => b.policy.policyId), messages: msgs.length } });
    } catch (e) {
      await releaseBudgets(this.deps.counters, decision.taken).catch(() => undefined);
      throw e;
    }
    return this.reservation(base, decision.taken);
  }

  private reservation(base: { requestId: string; actor: string; keyId?: string }, taken: Budget[]): Reservation {
    let settled = false;
    const release = async (why: string): Promise<void> => {
      if (settled) return;
      settled = true;
      if (taken.length === 0) return;
      try {
        await releaseBudgets(this.deps.counters, taken);
        await this.deps.audit.append({ ...base, operation: 'policy-release', result: 'ok', detail: { why, budgets: taken.map(describeBudget) } });
      } catch {
        // A give-back that fails leaves the budget spent: refusing too much is the safe way
        // to fail. (If only the audit entry failed, the budget is back and the note is lost.)
      }
    };
    return {
      keep: () => {
        settled = true;
      },
      release,
      settle: async (work) => {
        try {
          const out = await work();
          settled = true;
          return out;
        } catch (e) {
          await release('the operation failed');
          throw e;
        }
      },
    };
  }
}

function describeBudget(b: Budget): Record<string, unknown> {
  return b.kind === 'rate' ? { counter: b.counterKey, uses: b.count } : { counter: b.counterKey, day: b.day, wei: b.amount.toString() };
}
