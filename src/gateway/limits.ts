import { NestedSlots } from '../core/nested-slots.js';
import { RpcError } from '../wallet/rpc.js';
import { parseRate, RateLimiter, type Rate } from './rate-limiter.js';

/**
 * What one caller and one app (scope) may make the gateway and the signer cluster do.
 * Finding 5 of issue 12: anyone could create accounts without limit, and each account is a
 * DKLs23 key generation (seconds of CPU on every node) and about 130 KB on every node;
 * finding 11: 6,439 stored registration challenges in 30 s from one anonymous caller.
 *
 * - Rates (token buckets, this process's memory) per client address and per scope, for
 *   `registrations` (initiateRegistration, completeRegistration, delegatedRegistration:
 *   every call), `keygens` (account creations that reach the signer nodes) and
 *   `signatures` (every request the gateway sends the nodes to sign, lambdas included).
 * - Key generations in flight, per gateway process and per scope, refused beyond at once.
 * - Pending challenges per address and in all, and accounts per scope: counted in the
 *   database, so they hold for every gateway copy on it together (GatewayStore).
 *
 * Beyond a rate or quota the answer is `forbidden` (-32010) saying which limit and when to
 * try again; beyond the key-generation concurrency it is `signing_failed` (-32008), the
 * gateway's word for the nodes' executor_result, since the cluster is what is busy.
 */
export type LimitKind = 'registrations' | 'keygens' | 'signatures';

export interface LimitsConfig {
  perAddress: Record<LimitKind, Rate | undefined>;
  perScope: Record<LimitKind, Rate | undefined>;
  /** Key generations this gateway process runs at once, in all and per scope. */
  maxKeygens: number;
  maxKeygensPerScope: number;
  /** Challenges (registration and authentication) not yet used or expired, per address and in all. */
  maxPendingChallengesPerAddress: number;
  maxPendingChallenges: number;
  /** Accounts a scope may hold (made or being made). */
  maxAccountsPerScope: number;
}

/**
 * The defaults: a person registering, logging in and signing from one address never meets
 * them; a script from one address gets a few dozen accounts an hour, not thousands.
 * TANDEM_GATEWAY_MAX_KEYGENS matches the nodes' TANDEM_MAX_KEYGENS_PER_USER (4): the
 * gateway is one user on the nodes, so more in flight would only be refused there.
 */
export const DEFAULT_LIMITS: LimitsConfig = {
  perAddress: { registrations: { count: 30, seconds: 60 }, keygens: { count: 10, seconds: 60 }, signatures: { count: 120, seconds: 60 } },
  perScope: { registrations: { count: 600, seconds: 60 }, keygens: { count: 60, seconds: 60 }, signatures: { count: 1200, seconds: 60 } },
  maxKeygens: 4,
  maxKeygensPerScope: 2,
  maxPendingChallengesPerAddress: 16,
  maxPendingChallenges: 10_000,
  maxAccountsPerScope: 10_000,
};

const ENV_NAME: Record<LimitKind, string> = { registrations: 'REGISTRATIONS', keygens: 'KEYGENS', signatures: 'SIGNATURES' };
const KINDS: LimitKind[] = ['registrations', 'keygens', 'signatures'];

/** TANDEM_GATEWAY_* (see the README's gateway configuration); a malformed value stops the start. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): LimitsConfig {
  const rate = (kind: LimitKind, per: 'ADDRESS' | 'SCOPE', dflt: Rate | undefined) => {
    const name = `TANDEM_GATEWAY_${ENV_NAME[kind]}_PER_${per}`;
    const v = env[name];
    return v === undefined || v.trim() === '' ? dflt : parseRate(v, name);
  };
  const count = (name: string, dflt: number) => {
    const v = env[name];
    if (v === undefined || v.trim() === '') return dflt;
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 1 || n > 1e9) throw new Error(`${name} must be a whole number from 1`);
    return n;
  };
  const d = DEFAULT_LIMITS;
  return {
    perAddress: Object.fromEntries(KINDS.map((k) => [k, rate(k, 'ADDRESS', d.perAddress[k])])) as LimitsConfig['perAddress'],
    perScope: Object.fromEntries(KINDS.map((k) => [k, rate(k, 'SCOPE', d.perScope[k])])) as LimitsConfig['perScope'],
    maxKeygens: count('TANDEM_GATEWAY_MAX_KEYGENS', d.maxKeygens),
    maxKeygensPerScope: count('TANDEM_GATEWAY_MAX_KEYGENS_PER_SCOPE', d.maxKeygensPerScope),
    maxPendingChallengesPerAddress: count('TANDEM_GATEWAY_PENDING_CHALLENGES_PER_ADDRESS', d.maxPendingChallengesPerAddress),
    maxPendingChallenges: count('TANDEM_GATEWAY_PENDING_CHALLENGES', d.maxPendingChallenges),
    maxAccountsPerScope: count('TANDEM_GATEWAY_MAX_ACCOUNTS_PER_SCOPE', d.maxAccountsPerScope),
  };
}

const WHAT: Record<LimitKind, string> = { registrations: 'registration requests', keygens: 'account creations', signatures: 'signatures' };

/** The in-memory half of the limits (rates and concurrency) of one gateway process. */
export class GatewayLimits {
  readonly #byAddress = new Map<LimitKind, RateLimiter<string>>();
  readonly #byScope = new Map<LimitKind, RateLimiter<string>>();
  readonly #keygens: NestedSlots<string>;

  constructor(
    readonly config: LimitsConfig,
    now: () => number = () => Date.now(),
  ) {
    this.#keygens = new NestedSlots(config.maxKeygens, config.maxKeygensPerScope);
    for (const k of KINDS) {
      const a = config.perAddress[k];
      if (a) this.#byAddress.set(k, new RateLimiter<string>(a, 100_000, now));
      const s = config.perScope[k];
      // Scopes exist only with the operator's approval, so there are few of them.
      if (s) this.#byScope.set(k, new RateLimiter<string>(s, 100_000, now));
    }
  }

  /** Spends one `kind` of the caller's address; throws `forbidden` beyond its rate. */
  takeAddress(kind: LimitKind, address: string): void {
    const limiter = this.#byAddress.get(kind);
    const wait = limiter?.take(address) ?? 0;
    if (wait > 0) throw refusal(kind, 'from one address', limiter!.rate, wait);
  }

  /** Spends one `kind` of the scope; throws `forbidden` beyond its rate. */
  takeScope(kind: LimitKind, scopeId: string): void {
    const limiter = this.#byScope.get(kind);
    const wait = limiter?.take(scopeId) ?? 0;
    if (wait > 0) throw refusal(kind, 'in this scope', limiter!.rate, wait);
  }

  /**
   * Takes a key-generation place (in all and for the scope) or throws `signing_failed` at
   * once: a queue would only hold callers until their clients gave up. Call the returned
   * function once, when the key generation is over.
   */
  enterKeygen(scopeId: string): () => void {
    const place = this.#keygens.enter(scopeId);
    if (place === 'total') {
      throw new RpcError('signing_failed', `the gateway runs ${this.config.maxKeygens} account creations at once already; try again in a few seconds`);
    }
    if (place === 'key') {
      throw new RpcError('signing_failed', `at most ${this.config.maxKeygensPerScope} account creations run at once per scope; try again in a few seconds`);
    }
    return place;
  }
}

function refusal(kind: LimitKind, where: string, rate: Rate, waitSeconds: number): RpcError {
  return new RpcError('forbidden', `rate limit: at most ${rate.count} ${WHAT[kind]} per ${rate.seconds} s ${where}; try again in ${waitSeconds} s`);
}
