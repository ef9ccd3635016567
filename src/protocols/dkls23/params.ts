/**
 * DKLs23 parameters, one versioned record (design note §4.4, SL's choices): a wire or
 * keyshare with another version is refused before anything else is read.
 */
export const DKLS23_VERSION = 1;

export const PARAMS = Object.freeze({
  /** Computational security parameter κ (bits); also the number of base OTs per directed pair. */
  kappa: 256,
  /** Statistical security λ_s (bits) of the RVOLE encoding. */
  lambdaS: 128,
  /** SoftSpokenOT: base OTs per PPRF block (k), so 2^k leaves and κ/k blocks. */
  k: 4,
  /** OTs per multiplication: ξ = κ + 2·λ_s. */
  xi: 256 + 2 * 128,
  /** Extra OTE columns for the consistency check (one GF(2^128) element per row). */
  checkColumns: 128,
  /** RVOLE: ℓ = 2 products per multiplication (r_i·χ and sk_i·χ), ρ = 1 check scalar. */
  ell: 2,
  rho: 1,
});
