import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CeremonyChannel, ChannelError } from '../../src/crypto/channel.js';
import { identityFromPrivateKey } from '../../src/crypto/identity.js';
import { ChannelError as PortableChannelError, PortableCeremonyChannel, portableIdentity } from '../../src/crypto/portable-channel.js';
import { asPartyId, type CeremonyId, type PartyId } from '../../src/core/ids.js';
import { fixedRng } from '../helpers/seeded-rng.js';

/**
 * Ceremony-channel known answers (test/vectors/channel.json): with fixed static and ephemeral
 * X25519 keys, both channel implementations seal exactly the recorded envelopes, in every
 * pairing, and open each other's; the recorded values are also recomputed here from the
 * documented format with Node's crypto alone.
 */
interface KeyPair {
  secret: string;
  public: string;
}
interface Vectors {
  about: string;
  ceremony: string;
  parties: Record<string, { static: KeyPair; ephemeral: KeyPair }>;
  messages: Array<{ from: string; to: string; seq: number; firstContact: boolean; plaintext: string; key: string; envelope: string }>;
}

const v = JSON.parse(readFileSync(new URL('../../../test/vectors/channel.json', import.meta.url), 'utf8')) as Vectors;
const unhex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ids = Object.keys(v.parties).map(asPartyId);
const ceremony = v.ceremony as CeremonyId;
const directory = new Map<PartyId, Uint8Array>(ids.map((p) => [p, unhex(v.parties[p]!.static.public)]));
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const privateKey = (secret: string) => createPrivateKey({ key: Buffer.concat([X25519_PKCS8, unhex(secret)]), format: 'der', type: 'pkcs8' });

type Channel = { seal(to: PartyId, m: Uint8Array): Uint8Array; open(from: PartyId, e: Uint8Array): Uint8Array };
type Kind = 'node' | 'portable';
/** `fresh`: a random ephemeral key instead of the recorded one. */
function channel(kind: Kind, p: PartyId, fresh = false): Channel {
  const keys = v.parties[p]!;
  const eph = fresh ? undefined : fixedRng(unhex(keys.ephemeral.secret));
  return kind === 'node'
    ? new CeremonyChannel(identityFromPrivateKey(p, privateKey(keys.static.secret)), ceremony, directory, eph)
    : new PortableCeremonyChannel(portableIdentity(p, unhex(keys.static.secret)), ceremony, directory, eph);
}

/** The documented format (portable-channel.ts), with Node's crypto only: [ee ‖] eS ‖ SS, HKDF, AES-256-GCM. */
function reference(m: Vectors['messages'][number]): { key: string; envelope: string } {
  const f = v.parties[m.from]!;
  const t = v.parties[m.to]!;
  const dh = (sk: string, pk: string) =>
    diffieHellman({ privateKey: privateKey(sk), publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, unhex(pk)]), format: 'der', type: 'spki' }) });
  const ikm = Buffer.concat([
    m.firstContact ? Buffer.alloc(0) : dh(f.ephemeral.secret, t.ephemeral.public),
    dh(f.ephemeral.secret, t.static.public),
    dh(f.static.secret, t.static.public),
  ]);
  const toEph = m.firstContact ? Buffer.alloc(32) : Buffer.from(unhex(t.ephemeral.public));
  const salt = createHash('sha256').update(`tandem/ceremony/v1\0${v.ceremony}`).digest();
  const info = Buffer.concat([Buffer.from(`tandem/channel/v2\0${m.from}\0${m.to}\0`), unhex(f.ephemeral.public), toEph, unhex(f.static.public), unhex(t.static.public)]);
  const key = Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
  const header = Buffer.alloc(69);
  header[0] = 2;
  header.set(unhex(f.ephemeral.public), 1);
  header.set(toEph, 33);
  header.writeUInt32BE(m.seq, 65);
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(m.seq, 8);
  const c = createCipheriv('aes-256-gcm', key, iv).setAAD(header);
  const ct = Buffer.concat([c.update(unhex(m.plaintext)), c.final()]);
  return { key: key.toString('hex'), envelope: Buffer.concat([header, ct, c.getAuthTag()]).toString('hex') };
}

test('the recorded keys are what the key secrets give', () => {
  for (const p of ids) {
    for (const k of [v.parties[p]!.static, v.parties[p]!.ephemeral]) {
      assert.equal(hex(createPublicKey(privateKey(k.secret)).export({ format: 'der', type: 'spki' }).subarray(-32)), k.public);
      assert.equal(hex(portableIdentity(p, unhex(k.secret)).publicKey), k.public);
    }
  }
});

test('the recorded envelopes follow the documented format (recomputed with Node crypto alone)', () => {
  for (const m of v.messages) assert.deepEqual(reference(m), { key: m.key, envelope: m.envelope }, `${m.from}→${m.to} #${m.seq}`);
});

for (const [a, b] of [['node', 'node'], ['portable', 'portable'], ['node', 'portable'], ['portable', 'node']] as Array<[Kind, Kind]>) {
  test(`${ids[0]} on the ${a} channel, ${ids[1]} on the ${b} channel: exactly the recorded envelopes, and each opens the other's`, () => {
    const chans = new Map<string, Channel>([
      [ids[0]!, channel(a, ids[0]!)],
      [ids[1]!, channel(b, ids[1]!)],
    ]);
    for (const m of v.messages) {
      const sealed = chans.get(m.from)!.seal(asPartyId(m.to), unhex(m.plaintext));
      assert.equal(hex(sealed), m.envelope, `${m.from}→${m.to} #${m.seq}`);
      assert.equal(hex(chans.get(m.to)!.open(asPartyId(m.from), sealed)), m.plaintext);
    }
  });
}

test('the recorded envelopes open in a fresh receiver of either kind only in order, and not when altered', () => {
  for (const kind of ['node', 'portable'] as const) {
    const isChannelError = (e: unknown) => e instanceof ChannelError || e instanceof PortableChannelError;
    // First contacts open without the receiver having sent anything.
    const [first, second] = v.messages;
    const rx = channel(kind, asPartyId(first!.to));
    const bad = unhex(first!.envelope);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => rx.open(asPartyId(first!.from), bad), isChannelError);
    assert.equal(hex(rx.open(asPartyId(first!.from), unhex(first!.envelope))), first!.plaintext);
    assert.throws(() => rx.open(asPartyId(first!.from), unhex(first!.envelope)), isChannelError, 'replay');
    assert.equal(hex(rx.open(asPartyId(second!.from), unhex(second!.envelope))), second!.plaintext);
    // A message under the ephemeral-ephemeral term opens only with the recorded ephemeral key.
    const later = v.messages.find((m) => !m.firstContact && m.to === first!.to)!;
    assert.throws(() => channel(kind, asPartyId(later.to), true).open(asPartyId(later.from), unhex(later.envelope)), isChannelError);
  }
});
