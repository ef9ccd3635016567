import type { EnvelopeKey } from './envelope.js';
import type { GatewayLimits } from './limits.js';
import type { SignerNodesClient } from './node-client.js';
import type { SessionIssuer } from './sessions.js';
import type { GatewayStore } from './storage/gateway-store.js';

/**
 * Who may create a scope (the operator decides; a scope's owner may then write its RP and
 * lambda allowlist): anyone when `open`, else only the listed owner keys (base64 SPKI DER).
 */
export interface ScopeCreationPolicy {
  open: boolean;
  ownerKeys: readonly string[];
}

/** Everything a method handler may use; built once by the server. */
export interface Gateway {
  store: GatewayStore;
  envelope: EnvelopeKey;
  sessions: SessionIssuer;
  nodes: SignerNodesClient;
  /** Limits for lambdas' code and fetches. */
  lambdaLimits: { codeTimeoutMs: number; fetchTimeoutMs: number };
  /** Internal CIDR ranges lambdas may fetch (TANDEM_LAMBDA_INTERNAL_ALLOW); none when absent. */
  lambdaInternalAllow?: readonly string[];
  /** Absent means nobody may create a scope (TANDEM_OPEN_SCOPES, TANDEM_SCOPE_OWNER_KEYS). */
  scopeCreation?: ScopeCreationPolicy;
  /**
   * Rates, quotas and concurrency (limits.ts). startGateway always sets them (defaults
   * DEFAULT_LIMITS); absent only where a test builds a Gateway itself, and then nothing is limited.
   */
  limits?: GatewayLimits;
}
