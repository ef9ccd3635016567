import { createHash } from 'node:crypto';
import { asPartyId, type PartyId } from '../../src/core/ids.js';
import { derivePublic } from '../../src/protocols/derivation/bip32.js';
import { parseDerivationPath } from '../../src/protocols/derivation/path.js';
import { Dkls23Dkg } from '../../src/protocols/dkls23/dkg/dkg.js';
import { indexOf, type Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { encodePoint, encodeScalar } from '../../src/protocols/dkls23/math/group.js';
import { signSid } from '../../src/protocols/dkls23/session/ids.js';
import { combine, decodeRound3, Dkls23Signer, encodeRound3 } from '../../src/protocols/dkls23/sign/sign.js';
import { broadcast, route } from './dkls23.js';
import { seededRng } from './seeded-rng.js';

/**
 * A whole DKLs23 DKG and one signature in memory, with every random draw from seededRng:
 * party p draws from the stream (seed, "dkg/" + p) in the DKG and (seed, "sign/" + p) when
 * signing; the coordinator's 32-byte session nonce is the first 32 bytes of (seed, "sign/nonce").
 * Used by test/vectors/generate.ts (writes test/vectors/dkls23-*.json) and by
 * test/unit/vectors-dkls23.test.ts (runs it again and compares). Everything recorded is
 * public: keys, public shares, chain code, session ids, SHA-256 digests of the round
 * messages (which carry secrets, so only their digests), the signature.
 */
export interface Dkls23VectorInputs {
  seed: string;
  parties: string[];
  threshold: number;
  signers: string[];
  /** 32 bytes, hex. */
  messageHash: string;
  /** Non-hardened BIP32 path from the DKG's root key and chain code. */
  path: string;
}

export interface MessageDigest {
  round: number;
  from: string;
  /** The recipient, or "*" for a broadcast (the same bytes to every other party). */
  to: string;
  bytes: number;
  sha256: string;
}

export interface Dkls23VectorOutputs {
  dkg: {
    dkgSid: string;
    publicKey: string;
    chainCode: string;
    /** X_i = x_i·G per party, compressed. */
    publicShares: Record<string, string>;
    messages: MessageDigest[];
  };
  sign: {
    /** The coordinator nonce bound into the session id. */
    nonce: string;
    sid: string;
    /** δ of the path, 32 bytes. */
    tweak: string;
    derivedPublicKey: string;
    derivedChainCode: string;
    messages: MessageDigest[];
    signature: { r: string; s: string; recovery: number };
  };
}

/** The raw messages too, for byte-for-byte comparison of two runs (not written to the vector). */
export interface Dkls23Transcript {
  outputs: Dkls23VectorOutputs;
  raw: Uint8Array[];
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function runDkls23Transcript(inputs: Dkls23VectorInputs): Dkls23Transcript {
  const ids = inputs.parties.map(asPartyId);
  const raw: Uint8Array[] = [];
  const record = (log: MessageDigest[], round: number, from: PartyId, to: PartyId | '*', m: Uint8Array) => {
    raw.push(Uint8Array.from(m));
    log.push({ round, from, to, bytes: m.length, sha256: sha256(m) });
  };

  // ---- DKG ----
  const dkgLog: MessageDigest[] = [];
  const dkgs = new Map(ids.map((p) => [p, new Dkls23Dkg(p, ids, inputs.threshold, seededRng(inputs.seed, `dkg/${p}`))]));
  const broadcastRound = (round: number, make: (p: PartyId) => Uint8Array) =>
    route(
      new Map(
        ids.map((p) => {
          const m = make(p);
          record(dkgLog, round, p, '*', m);
          return [p, broadcast(ids, p, m)];
        }),
      ),
    );
  /** One party-to-party round among `among`, each message recorded in `log` (in recipient order). */
  const p2pRound = (among: PartyId[], log: MessageDigest[], round: number, make: (p: PartyId) => Map<PartyId, Uint8Array>) =>
    route(
      new Map(
        among.map((p) => {
          const out = make(p);
          for (const to of [...out.keys()].sort()) record(log, round, p, to, out.get(to)!);
          return [p, out];
        }),
      ),
    );
  let inbox = broadcastRound(1, (p) => dkgs.get(p)!.round1());
  inbox = p2pRound(ids, dkgLog, 2, (p) => dkgs.get(p)!.round2(inbox.get(p)!));
  inbox = p2pRound(ids, dkgLog, 3, (p) => dkgs.get(p)!.round3(inbox.get(p)!));
  inbox = broadcastRound(4, (p) => dkgs.get(p)!.round4(inbox.get(p)!));
  const shares: Dkls23KeyShare[] = ids.map((p) => dkgs.get(p)!.finish(inbox.get(p)!));
  const pub = shares[0]!.pub;

  // ---- signing ----
  const signLog: MessageDigest[] = [];
  const signerIds = inputs.signers.map(asPartyId);
  const signerShares = signerIds.map((p) => shares[ids.indexOf(p)]!);
  const path = parseDerivationPath(inputs.path);
  const derived = derivePublic({ publicKey: pub.publicKey, chainCode: pub.chainCode }, path);
  const nonce = seededRng(inputs.seed, 'sign/nonce')(32);
  const sid = signSid({ dkgSid: pub.dkgSid, epoch: pub.epoch, signers: signerIds.map((p) => indexOf(pub, p)), path, nonce });
  const msgHash = Uint8Array.from(Buffer.from(inputs.messageHash, 'hex'));
  const signers = new Map(
    signerShares.map((s) => [s.self, new Dkls23Signer(s, signerIds, sid, msgHash, derived.tweak, seededRng(inputs.seed, `sign/${s.self}`))]),
  );
  const p2p = (round: number, make: (p: PartyId) => Map<PartyId, Uint8Array>) => p2pRound(signerIds, signLog, round, make);
  let signInbox = p2p(1, (p) => signers.get(p)!.round1());
  signInbox = p2p(2, (p) => signers.get(p)!.round2(signInbox.get(p)!));
  const partials = signerIds.map((p) => {
    const m = encodeRound3(signers.get(p)!.round3(signInbox.get(p)!));
    record(signLog, 3, p, '*', m);
    return decodeRound3(m, p);
  });
  const sig = combine(signers.get(signerIds[0]!)!.publicKey, msgHash, partials);

  return {
    raw,
    outputs: {
      dkg: {
        dkgSid: hex(pub.dkgSid),
        publicKey: hex(encodePoint(pub.publicKey)),
        chainCode: hex(pub.chainCode),
        publicShares: Object.fromEntries(ids.map((p, k) => [p, hex(encodePoint(pub.publicShares[k]!))])),
        messages: dkgLog,
      },
      sign: {
        nonce: hex(nonce),
        sid: hex(sid),
        tweak: hex(encodeScalar(derived.tweak)),
        derivedPublicKey: hex(encodePoint(derived.publicKey)),
        derivedChainCode: hex(derived.chainCode),
        messages: signLog,
        signature: { r: hex(encodeScalar(sig.r)), s: hex(encodeScalar(sig.s)), recovery: sig.recovery },
      },
    },
  };
}
