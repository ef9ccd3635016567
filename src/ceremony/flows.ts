import type { Dkls23KeyShare } from '../protocols/dkls23/keyshare/keyshare.js';
import type { FrostKeyShare } from '../protocols/frost/key-share.js';
import { coordinateDklsKeygen, participateDklsKeygen } from './dkls-keygen.js';
import { coordinateDklsSign, participateDklsSign } from './dkls-sign.js';
import type { Engine } from './families.js';
import { coordinateFrostKeygen, participateFrostKeygen } from './frost-keygen.js';
import { coordinateFrostSign, participateFrostSign } from './frost-sign.js';
import { OP, type KeyOperation } from './operations.js';
import type { ParticipantSeat, ShareVault } from './ports.js';

/**
 * Each engine's flows, written once for every seat: the coordinator's (a node) and the
 * participant's (a node invited by its peer, or a room's client on a device). A family of
 * families.ts runs on its engine's flows.
 */
export const FLOWS = {
  frost: { keygen: { coordinate: coordinateFrostKeygen, participate: participateFrostKeygen }, sign: { coordinate: coordinateFrostSign, participate: participateFrostSign } },
  dkls23: { keygen: { coordinate: coordinateDklsKeygen, participate: participateDklsKeygen }, sign: { coordinate: coordinateDklsSign, participate: participateDklsSign } },
} as const satisfies Record<Engine, unknown>;

/** Where a party keeps each engine's shares. */
export interface ShareVaults {
  frost: ShareVault<FrostKeyShare>;
  dkls23: ShareVault<Dkls23KeyShare>;
}

/** A participant's side of `op`, whatever its family: a kept key's id for a keygen. */
export function participate(seat: ParticipantSeat, op: KeyOperation, vaults: ShareVaults): Promise<{ keyId: string } | void> {
  switch (op.type) {
    case OP.frostKeygen:
      return FLOWS.frost.keygen.participate(seat, op, vaults.frost);
    case OP.frostSign:
      return FLOWS.frost.sign.participate(seat, op, vaults.frost);
    case OP.dklsKeygen:
      return FLOWS.dkls23.keygen.participate(seat, op, vaults.dkls23);
    case OP.dklsSign:
      return FLOWS.dkls23.sign.participate(seat, op, vaults.dkls23);
  }
}
