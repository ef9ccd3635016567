import type { PartyId } from '../core/ids.js';

/**
 * A protocol check failed. `culprit` names the party whose message failed it, when the
 * protocol lets us tell; undefined means the fault can't be pinned on one party
 * (e.g. parties disagree and either could be lying).
 */
export class ProtocolError extends Error {
  constructor(
    /** What failed, without the party's name. */
    readonly reason: string,
    readonly culprit?: PartyId,
  ) {
    super(culprit ? `party ${culprit}: ${reason}` : reason);
    this.name = 'ProtocolError';
  }
}
