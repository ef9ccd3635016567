/**
 * What the OT layer hands the multiplication (RVOLE) layer, per directed pair and per
 * multiplication: ξ random OTs, each carrying ℓ+ρ scalars (design note §3.1, §4.3).
 *
 * Bob (OT-extension receiver, RVOLE receiver) chose bits β_j and learned ω_j = α^{β_j}_j;
 * Alice (OT-extension sender, RVOLE sender) learned both α⁰_j and α¹_j.
 */
export interface OtReceiverOutput {
  /** ξ choice bits, one per byte (0 or 1). Secret. */
  beta: Uint8Array;
  /** ξ rows of ℓ+ρ scalars. Secret. */
  omega: bigint[][];
}

export interface OtSenderOutput {
  /** ξ rows of ℓ+ρ scalars each. Secret. */
  alpha0: bigint[][];
  alpha1: bigint[][];
}
