import type { PartyId } from '../../core/ids.js';
import { participate as participateInFlow } from '../../ceremony/flows.js';
import { isKeyOperationType, OP, parseKeyOperation, type KeyOperation } from '../../ceremony/operations.js';
import { refuse } from '../../ceremony/outcomes.js';
import type { Participant } from './context.js';
import { participateCreateUser } from './create-user.js';
import { participantSeat } from './ports.js';
import { participateCreateRoom } from './rooms.js';

/**
 * A node's side of a ceremony another node coordinates, started by its invitation: the
 * records every node keeps a copy of (a user, a room), or a key's ceremony, whose operation
 * is parsed once into its typed value and run by its family's flow on the node's ports.
 */
export const participate: Participant = async (ctx, invite, from, join) => {
  if (invite.op.type === OP.createUser) return participateCreateUser(ctx, invite, from, join);
  if (invite.op.type === OP.createRoom) return participateCreateRoom(ctx, invite, from, join);
  const session = await join();
  try {
    let op: KeyOperation;
    try {
      op = parseKeyOperation(invite.op, from as PartyId);
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    const { seat, vaults } = participantSeat(ctx, invite, from, session, op);
    // The outcome is the coordinator's to report; the seat has refused, or logged why it stopped.
    await participateInFlow(seat, op, vaults).catch(() => undefined);
  } finally {
    session.close();
  }
};

/** The operations a node takes part in when a peer invites it. */
export const isParticipantOperation = (type: string): boolean => type === OP.createUser || type === OP.createRoom || isKeyOperationType(type);
