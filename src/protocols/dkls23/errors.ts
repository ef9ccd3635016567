import type { PartyId } from '../../core/ids.js';
import { ProtocolError } from '../errors.js';

/**
 * The DKLs23 failure taxonomy (design note §6): most failures abort the session and name
 * the sender; a failed OT-extension, μ or Γ check means the peer tried to learn our
 * secret through selective failure, so we must never run with it again (ban).
 */
export type FailureKind = 'abort' | 'ban';

export class Dkls23Error extends ProtocolError {
  constructor(
    reason: string,
    culprit?: PartyId,
    readonly kind: FailureKind = 'abort',
  ) {
    super(reason, culprit);
    this.name = 'Dkls23Error';
  }
}

export const abort = (reason: string, culprit?: PartyId) => new Dkls23Error(reason, culprit, 'abort');
export const ban = (reason: string, culprit: PartyId) => new Dkls23Error(reason, culprit, 'ban');
