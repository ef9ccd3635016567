/** Whether a page origin (from clientDataJSON) is one of `allowed` (`http://localhost:*` allows any port). */
export function originAllowed(allowed: readonly string[], origin: string): boolean {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (u.origin !== origin) return false; // a path, credentials or odd spelling is not an origin
  return allowed.some((p) => {
    if (p.endsWith(':*')) {
      const base = new URL(p.slice(0, -2));
      return base.protocol === u.protocol && base.hostname === u.hostname;
    }
    return p === origin;
  });
}

/**
 * A key bound to its end user's passkey at key generation (a wallet gateway scope with
 * `signing.passkey_per_request`): every node that holds a share then signs with it only on
 * an assertion by that passkey over the very request the user made (the gateway's direct
 * passkey flow), which it checks itself. A compromised gateway, holding sessions and its
 * own request key, can no longer sign what the user did not ask for.
 */
export interface OwnerPasskey {
  rp_id: string;
  /** The scope's origins when the key was made (`http://localhost:*` allows any port). */
  origins: string[];
  /** base64url credential id and COSE public key, as WebAuthn registration gave them. */
  credential_id: string;
  public_key: string;
}

/** What the gateway forwards with a signature request for such a key. */
export interface PasskeyEvidence {
  /** The end user's JSON-RPC request body, exactly as sent. */
  request_body: string;
  /** The gateway's challenge (base64url) the assertion was made over, with the body. */
  challenge: string;
  /** The WebAuthn assertion (AuthenticationResponseJSON). */
  assertion: unknown;
}

const B64URL = /^[A-Za-z0-9_-]{1,2048}$/;

/** Undefined for anything that is not a well-formed OwnerPasskey. */
export function parseOwnerPasskey(v: unknown): OwnerPasskey | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).some((k) => !['rp_id', 'origins', 'credential_id', 'public_key'].includes(k))) return undefined;
  const { rp_id, origins, credential_id, public_key } = o;
  if (typeof rp_id !== 'string' || rp_id.length === 0 || rp_id.length > 253) return undefined;
  if (!Array.isArray(origins) || origins.length === 0 || origins.length > 32 || !origins.every((x) => typeof x === 'string' && x.length <= 300)) return undefined;
  if (typeof credential_id !== 'string' || !B64URL.test(credential_id) || typeof public_key !== 'string' || !B64URL.test(public_key)) return undefined;
  return { rp_id, origins: origins as string[], credential_id, public_key };
}

export function parsePasskeyEvidence(v: unknown): PasskeyEvidence | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { request_body, challenge, assertion } = v as Record<string, unknown>;
  if (typeof request_body !== 'string' || request_body.length > 300_000 || typeof challenge !== 'string' || !B64URL.test(challenge)) return undefined;
  if (typeof assertion !== 'object' || assertion === null) return undefined;
  return { request_body, challenge, assertion };
}

/** One text per value, whatever the key order: what an invitation is compared by. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
