import { ProtocolError } from '../protocols/errors.js';
import type { KeyOperation } from './operations.js';
import { signerStopped, wasAborted } from './outcomes.js';
import type { Admission, ParticipantSeat } from './ports.js';

/**
 * A participant's side of every flow has two parts. Its entry (its own checks, the
 * authorizer's admission, and whatever must still hold once admitted) comes before it has
 * contributed anything: whatever fails there is a refusal, and the coordinator hears that and
 * nothing else. Its rounds come after, and how a failure there is reported depends on what
 * the party would otherwise leave behind: a kept share (joinKeygen) or a reservation
 * (joinSign). What the admission reserved is released on every path, also when a check after
 * the admission refused.
 */

/** Asks the authorizer; an entry calls it once, after the checks that reserve nothing. */
type Admit = () => Promise<Admission>;

/** A flow's participant side: everything before its first message, then its rounds. */
interface Parts<E, R, Given = object> {
  /** Returns what the rounds need. */
  enter(admit: Admit): Promise<E>;
  rounds(admitted: { admission: Admission; entered: E } & Given): Promise<R>;
}

interface Ending {
  /** Why a reservation goes back when the entry refused after the admission. */
  refused: string;
  /** The rounds failed with `e`: tells the coordinator, or not, as the flow's kind requires. */
  stopped(e: unknown): Promise<void> | void;
  /** After the rounds, however they ended: keeps or gives back what the admission reserved. */
  settle(admission: Admission): Promise<void>;
}

async function participate<E, R>(seat: ParticipantSeat, op: KeyOperation, parts: Parts<E, R>, end: Ending): Promise<R> {
  let admission: Admission | undefined;
  let entered: E;
  try {
    entered = await parts.enter(async () => (admission = await seat.authorizer.admit(op, seat.coordinator)));
    if (!admission) throw new Error('a participant entered its rounds without being admitted');
  } catch (e) {
    seat.refuse(e);
    await admission?.release(end.refused);
    throw e;
  }
  try {
    return await parts.rounds({ admission, entered });
  } catch (e) {
    await end.stopped(e);
    throw e;
  } finally {
    await end.settle(admission);
  }
}

/** Why a keygen's reservation goes back (the node's authorizer says the same when it refuses). */
export const KEYGEN_UNFINISHED = 'the key generation did not complete';

/**
 * A key generation's participant. Its rounds keep the new share through `keepShare` (the
 * party's own `share.keep`, then remembered as kept), before it confirms. Only the
 * coordinator's explicit abort undoes a kept share: a lost commit must not lose a key the
 * coordinator already handed out.
 */
export function joinKeygen<S, E, R>(
  seat: ParticipantSeat,
  op: KeyOperation,
  share: { keep(share: S): Promise<void>; forget(): Promise<void> },
  parts: Parts<E, R, { keepShare: (share: S) => Promise<void> }>,
): Promise<R> {
  let stored = false;
  const keepShare = async (s: S): Promise<void> => {
    await share.keep(s);
    stored = true;
  };
  return participate(
    seat,
    op,
    { enter: (admit) => parts.enter(admit), rounds: (admitted) => parts.rounds({ ...admitted, keepShare }) },
    {
      refused: KEYGEN_UNFINISHED,
      stopped: async (e) => {
        stored = await undoOnAbort(seat, e, stored, share.forget);
      },
      settle: async (admission) => {
        // A key this party keeps (stored, not undone by an abort) is what its budget was for.
        if (stored) admission.keep();
        await admission.release(KEYGEN_UNFINISHED);
      },
    },
  );
}

/**
 * A keygen participant that failed after it began: only the coordinator's explicit abort
 * undoes a kept share (then nothing is sent back); otherwise the coordinator hears an abort.
 * Returns whether the share is still kept.
 */
async function undoOnAbort(seat: ParticipantSeat, e: unknown, stored: boolean, forget: () => Promise<void>): Promise<boolean> {
  const undo = stored && wasAborted(e);
  if (undo) await forget().catch(() => undefined);
  seat.abandon(e, !undo);
  return stored && !wasAborted(e);
}

/** Why a signer's reservation goes back when it did not commit (the node's authorizer says the same when it refuses). */
export const SIGN_REFUSED = 'refused or failed before committing';

/**
 * A signer. Its rounds end when its last shares are out: from then on the coordinator can
 * sign whatever it then says happened, so what the admission reserved stays spent. A signer
 * that stops before tells the coordinator, and its reservation goes back with the reason
 * (signerStopped).
 */
export function joinSign<E>(seat: ParticipantSeat, op: KeyOperation, parts: Parts<E, void>): Promise<void> {
  const from = seat.coordinator;
  let why = SIGN_REFUSED;
  return participate(
    seat,
    op,
    {
      enter: (admit) =>
        parts.enter(async () => {
          const admission = await admit();
          // A signing set always includes its coordinator (it signs with its own share): one
          // that holds none of this key is not running this key's ceremony.
          if (admission.key && !admission.key.parties.includes(from)) throw new ProtocolError('coordinator holds no share of this key', from);
          return admission;
        }),
      rounds: async (admitted) => {
        await parts.rounds(admitted);
        admitted.admission.keep();
      },
    },
    {
      refused: SIGN_REFUSED,
      stopped: (e) => {
        why = signerStopped(seat, e);
      },
      settle: (admission) => admission.release(why),
    },
  );
}
