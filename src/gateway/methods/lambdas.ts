import { randomUUID } from 'node:crypto';
import type { RpcCall } from '../call.js';
import { personalMessageHash, rsv } from '../../wallet/ethereum.js';
import { executeLambda as runLambda, isLambdaError, parseLambdaDefinition, type LambdaDefinition } from '../lambda/index.js';
import { checkJsonText, idParam } from '../params.js';
import { RpcError } from '../../wallet/rpc.js';
import type { LambdaRecord } from '../storage/gateway-store.js';
import { paramsObject } from './registration.js';

/**
 * Passport lambdas: an account stores a program whose conditions decide when its key
 * signs `actions.data`. Created and listed only by the authenticated owner; run only in
 * their own scope, with the scope's fetch allowlist and the sandbox's time and memory
 * limits. `authorization: "jwt"` means only the owner's authenticated request runs it
 * (session, passkey or key signature); `"none"` is the owner's explicit choice to let any
 * caller who knows the lambda id (a random UUID) trigger it in that scope, the way a
 * webhook is triggered: the SDK's `executeLambda` sends no credentials. Either way the
 * conditions guard the signature and `max_executions` bounds how many it ever makes.
 */
export async function createLambda(call: RpcCall) {
  const p = paramsObject(call.params);
  const account = await call.account();
  const def = lambdaDefinition(p.data);
  if (def.triggers.some((t) => t.type === 'account')) {
    throw new RpcError('invalid_params', 'triggers of type "account" are not supported: lambdas run on executeLambda ("hook")');
  }
  const lambdaId = randomUUID();
  await call.gw.store.insertLambda({
    lambdaId,
    scopeId: account.scopeId,
    accountId: account.accountId,
    definition: def,
    maxExecutions: def.max_executions,
    executions: 0,
    createdAt: new Date(),
  });
  return { id: lambdaId };
}

export async function listLambda(call: RpcCall) {
  const account = await call.account();
  const rows = await call.gw.store.listLambdas(account.scopeId, account.accountId);
  return rows.map((l) => ({ id: l.lambdaId, data: l.definition, executions: l.executions, max_executions: l.maxExecutions, created_at: l.createdAt.toISOString() }));
}

export async function executeLambda(call: RpcCall) {
  // Anyone may call a lambda with authorization "none": its address pays before anything runs.
  call.takeAddress('signatures');
  const p = paramsObject(call.params);
  const data = p.data as { id?: unknown; params?: unknown } | undefined;
  if (typeof data !== 'object' || data === null) throw new RpcError('invalid_params', 'params.data.id must name a lambda');
  const lambdaId = idParam(data.id, 'params.data.id');
  const scope = await call.scope();
  const lambda = await call.gw.store.getLambda(lambdaId);
  // Another scope's lambda is indistinguishable from a missing one.
  if (!lambda || lambda.scopeId !== scope.scopeId) throw new RpcError('invalid_params', 'no such lambda in this scope');
  const def = lambda.definition as LambdaDefinition;
  if (def.authorization.type === 'jwt') await requireOwner(call, lambda);
  const owner = await call.gw.store.getAccount(lambda.accountId);
  if (!owner?.keyId) throw new RpcError('invalid_params', 'the lambda\'s account has no key');
  const params = data.params === undefined ? [] : data.params;
  if (!Array.isArray(params)) throw new RpcError('invalid_params', 'params.data.params must be a list');
  if (!(await call.gw.store.claimLambdaExecution(lambda.lambdaId))) {
    throw new RpcError('lambda_failed', `the lambda has reached its max_executions (${lambda.maxExecutions})`);
  }
  try {
    const run = await runLambda(
      def,
      {
        params,
        allowlist: scope.config.lambda_allowlist,
        internalAllow: call.gw.lambdaInternalAllow ?? [],
        limits: { codeTimeoutMs: call.gw.lambdaLimits.codeTimeoutMs, fetchTimeoutMs: call.gw.lambdaLimits.fetchTimeoutMs },
      },
      async (message) => rsv(await call.sign(owner.keyId!, personalMessageHash(message))),
    );
    return run;
  } catch (e) {
    if (isLambdaError(e)) throw new RpcError('lambda_failed', e.message);
    throw e;
  }
}

async function requireOwner(call: RpcCall, lambda: LambdaRecord): Promise<void> {
  const account = await call.account();
  if (account.accountId !== lambda.accountId) throw new RpcError('forbidden', 'only the lambda\'s owner can run it (authorization "jwt")');
}

function lambdaDefinition(data: unknown): LambdaDefinition {
  // Stored as jsonb, which holds no NUL: refused here rather than by the database.
  checkJsonText(data, 'params.data', { storable: true });
  try {
    return parseLambdaDefinition(data);
  } catch (e) {
    if (isLambdaError(e)) throw new RpcError('invalid_params', e.message);
    throw e;
  }
}
