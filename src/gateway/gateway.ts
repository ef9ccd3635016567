import type { EnvelopeKey } from './envelope.js';
import type { SignerNodesClient } from './node-client.js';
import type { SessionIssuer } from './sessions.js';
import type { GatewayStore } from './storage/gateway-store.js';

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
}
