import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { decodeItems } from '../../src/ceremony/exchange.js';
import { CeremonyChannel, ChannelError } from '../../src/crypto/channel.js';
import { identityFromPrivateKey } from '../../src/crypto/identity.js';
import { ChannelError as PortableChannelError, PortableCeremonyChannel, portableIdentity } from '../../src/crypto/portable-channel.js';
import { decodeXpub, encodeXpub } from '../../src/protocols/derivation/bip32.js';
import { packFields, unpackFields } from '../../src/protocols/dkls23/encoding/fields.js';
import { Dkls23Error } from '../../src/protocols/dkls23/errors.js';
import { decodeSecret, encodeSecret, publicFromJson, publicToJson, type Dkls23KeyShare, type Dkls23Public } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { decodePoint, decodeScalar, encodePoint, encodeScalar, G } from '../../src/protocols/dkls23/math/group.js';
import { decodeBaseOtMsg1, decodeBaseOtMsg2 } from '../../src/protocols/dkls23/ot/base-ot.js';
import { decodePprfMsg, PPRF_LEAF_BYTES, PPRF_MSG_BYTES } from '../../src/protocols/dkls23/ot/pprf.js';
import {
  decodeOteReceiverSeed,
  decodeOteSenderSeed,
  decodeOtSetupMsg1,
  decodeOtSetupMsg2,
  encodeOteReceiverSeed,
  encodeOteSenderSeed,
  OTE_RECEIVER_SEED_BYTES,
  OTE_SENDER_SEED_BYTES,
} from '../../src/protocols/dkls23/ot/setup.js';
import { decodeOteExtensionMsg, OTE_MSG_BYTES } from '../../src/protocols/dkls23/ot/softspoken.js';
import { decodeSchnorrProof, encodeSchnorrProof } from '../../src/protocols/dkls23/proofs/schnorr.js';
import { decodeRound3 } from '../../src/protocols/dkls23/sign/sign.js';
import { decodeRvoleMessage, RVOLE_MESSAGE_BYTES } from '../../src/protocols/dkls23/vole/rvole.js';
import { ProtocolError } from '../../src/protocols/errors.js';
import { parseDerivationPath } from '../../src/protocols/derivation/path.js';
import * as frost from '../../src/protocols/frost/messages.js';
import { startRelay } from '../../src/relay/server.js';
import { fromBase64, RelayConnection, type WebSocketLike } from '../../src/relay/connection.js';
import { asPartyId, type CeremonyId, type PartyId } from '../../src/core/ids.js';
import { withField } from '../helpers/fuzz-inputs.js';
import { TEST_RELAY } from '../helpers/relay-auth.js';

/**
 * Every decoder of what comes off the wire (or out of storage) against arbitrary input:
 * it returns, or it throws its module's typed error naming the sender; never a TypeError,
 * RangeError or anything else that would escape the protocol's error handling. Inputs are
 * random bytes and JSON, and valid encodings with random damage (so decoding gets past the
 * first length check).
 */

const RUNS = 150;
const from = asPartyId('node-2');

/** Runs `decode`; anything thrown must be a `Kind` naming `culprit` (when the decoder was told the sender). */
function onlyTyped<E extends Error>(Kind: new (...a: never[]) => E, decode: () => unknown, culprit?: (e: E) => unknown, expected?: unknown): void {
  try {
    decode();
  } catch (e) {
    if (!(e instanceof Kind)) assert.fail(`expected ${Kind.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}`);
    if (culprit && expected !== undefined) assert.equal(culprit(e), expected, `the error names the sender: ${e.message}`);
  }
}
const dkls = (decode: () => unknown, sender?: PartyId) => onlyTyped(Dkls23Error, decode, (e) => e.culprit, sender);
const protocol = (decode: () => unknown, sender?: PartyId) => onlyTyped(ProtocolError, decode, (e) => e.culprit, sender);

/** Bytes at a random offset into a larger buffer: decoders must honour byteOffset. */
const bytes = (maxLength = 200) =>
  fc.tuple(fc.uint8Array({ maxLength }), fc.nat({ max: 7 })).map(([b, pad]) => {
    const buf = new Uint8Array(b.length + pad);
    buf.set(b, pad);
    return buf.subarray(pad);
  });

/** A valid encoding, then up to four edits: a byte set, a cut, bytes appended, a 32-bit word overwritten. */
const damaged = (base: Uint8Array) =>
  fc
    .array(
      fc.oneof(
        fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('add' as const), more: fc.uint8Array({ maxLength: 40 }) }),
        fc.record({ op: fc.constant('word' as const), at: fc.nat(), v: fc.nat() }),
      ),
      { maxLength: 4 },
    )
    .map((ops) => {
      let b = Uint8Array.from(base);
      for (const o of ops) {
        if (b.length === 0 && o.op !== 'add') continue;
        if (o.op === 'set') b[o.at % b.length] = o.v;
        else if (o.op === 'cut') b = b.slice(0, o.at % b.length);
        else if (o.op === 'add') b = Uint8Array.from([...b, ...o.more]);
        else if (b.length >= 4) new DataView(b.buffer).setUint32(o.at % (b.length - 3), o.v >>> 0);
      }
      return b;
    });

/** Strings with what breaks parsers: NUL, lone surrogates, separators, digits, huge runs. */
const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udfff', '/', 'm', '0', '1', '9', "'", 'h', '=', '+', 'a', 'A', '-', '\u00e9', '\ud83d\ude00'), maxLength: 40 }),
  fc.constantFrom('', 'x'.repeat(70_000), '1/'.repeat(300), 'm' + '/1'.repeat(300), '4294967296', '2147483648'),
);
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.anything({ maxDepth: 3 }), nastyString);

const point = () => secp256k1.Point.BASE.multiply(secp256k1.Point.Fn.fromBytes(secp256k1.utils.randomSecretKey()));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('FROST wire messages', () => {
  const h32 = hex(new Uint8Array(32).fill(7));
  const h33 = hex(encodePoint(point()));
  const samples: Array<[string, (x: unknown, f?: PartyId) => unknown, unknown]> = [
    ['DKG round 1', frost.parseDkgRound1, { v: 1, from, commitment: [h33], proofOfKnowledge: h32 + h32 }],
    ['DKG round 1 set', frost.parseDkgRound1Set, { v: 2, packages: [{ v: 1, from, commitment: [h33], proofOfKnowledge: h32 + h32 }, { v: 1, from: 'node-1', commitment: [h33], proofOfKnowledge: h32 + h32 }] }],
    ['DKG round 2', frost.parseDkgRound2, { v: 1, from, to: 'node-1', signingShare: h32, transcript: h32 }],
    ['DKG confirmation', frost.parseDkgConfirm, { v: 1, from, transcript: h32, publicDigest: h32, groupPublicKey: h32 }],
    ['signing commitment', frost.parseSignCommitment, { v: 1, from, hiding: h33, binding: h33 }],
    ['signing package', frost.parseSigningPackage, { v: 1, msg: 'ab', commitments: [{ v: 1, from, hiding: h33, binding: h33 }] }],
    ['signature share', frost.parseSignatureShare, { v: 1, from, share: h32 }],
    ['public package', frost.parseFrostPublicPackage, { v: 1, suite: 'x', threshold: 2, parties: [from], commitments: [h33], verifyingShares: { [from]: h33 } }],
    ['commitment batch', frost.parseSignCommitmentBatch, { v: 1, commitments: [{ v: 1, from, hiding: h33, binding: h33 }] }],
    ['package batch', frost.parseSigningPackageBatch, { v: 1, packages: [{ v: 1, msg: '', commitments: [{ v: 1, from, hiding: h33, binding: h33 }] }] }],
    ['share batch', frost.parseSignatureShareBatch, { v: 1, shares: [{ v: 1, from, share: h32 }] }],
  ];

  /** The sample with one field (at any depth) replaced by arbitrary JSON, removed, or added. */
  const mutatedJson = (sample: unknown) =>
    fc.tuple(fc.nat(), fc.oneof(anyJson, fc.constant(undefined)), nastyString).map(([pick, value, key]) => {
      const copy = structuredClone(sample) as Record<string, unknown>;
      const slots: Array<[Record<string, unknown> | unknown[], string | number]> = [];
      const walk = (v: unknown) => {
        if (Array.isArray(v)) v.forEach((x, i) => (slots.push([v, i]), walk(x)));
        else if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) slots.push([v as Record<string, unknown>, k]), walk((v as Record<string, unknown>)[k]);
      };
      walk(copy);
      const [where, k] = slots[pick % slots.length]!;
      if (pick % 7 === 0) withField(copy, key, value);
      else if (value === undefined) delete (where as Record<string, unknown>)[k as string];
      else (where as Record<string, unknown>)[k as string] = value;
      return copy;
    });

  for (const [name, parse, sample] of samples) {
    test(`${name}: arbitrary JSON is parsed or refused with a ProtocolError naming the sender`, () => {
      assert.doesNotThrow(() => parse(sample, from), 'the sample itself is valid');
      fc.assert(fc.property(fc.oneof(anyJson, mutatedJson(sample)), (input) => protocol(() => parse(input, from), from)), { numRuns: RUNS });
    });
  }

  test('derivation paths (FROST) are parsed or refused with a ProtocolError', () => {
    fc.assert(fc.property(nastyString, (path) => protocol(() => parseDerivationPath(path))), { numRuns: RUNS * 2 });
  });
});

describe('DKLs23 codecs', () => {
  const sk = secp256k1.Point.Fn.fromBytes(secp256k1.utils.randomSecretKey());
  const round3 = packFields(13, [encodePoint(point()), encodeScalar(sk), encodeScalar(sk)]);
  const proof = encodeSchnorrProof({ A: G.multiply(sk), z: sk });
  const sized = (n: number) => fc.oneof(bytes(), fc.uint8Array({ minLength: n, maxLength: n }), damaged(new Uint8Array(n)));

  const messages: Array<[string, Uint8Array, (b: Uint8Array) => unknown]> = [
    ['round 3', round3, (b) => decodeRound3(b, from)],
    ['Schnorr proof', proof, (b) => decodeSchnorrProof(b, from)],
    ['point', encodePoint(point()), (b) => decodePoint(b, from)],
    ['scalar', encodeScalar(sk), (b) => decodeScalar(b, from, 'scalar', true)],
  ];
  for (const [name, valid, decode] of messages) {
    test(`${name}: damaged and random bytes give a Dkls23Error naming the sender`, () => {
      assert.doesNotThrow(() => decode(valid));
      fc.assert(fc.property(fc.oneof(bytes(), damaged(valid)), (b) => dkls(() => decode(b), from)), { numRuns: RUNS });
    });
  }

  test('RVOLE message: exact-length bytes with scalars out of range, and other lengths', () => {
    // All zeros is a valid message; damage puts words at or above the group order.
    const zero = new Uint8Array(RVOLE_MESSAGE_BYTES);
    assert.doesNotThrow(() => decodeRvoleMessage(zero, from));
    const highWord = fc.tuple(fc.nat({ max: RVOLE_MESSAGE_BYTES / 32 - 1 })).map(([k]) => {
      const b = new Uint8Array(RVOLE_MESSAGE_BYTES);
      b.fill(0xff, k * 32, k * 32 + 32);
      return b;
    });
    fc.assert(fc.property(fc.oneof(bytes(), damaged(zero), highWord), (b) => dkls(() => decodeRvoleMessage(b, from), from)), { numRuns: 40 });
  });

  test('fixed-size OT messages: any other size is a Dkls23Error naming the sender', () => {
    const decoders: Array<[number, (b: Uint8Array) => unknown]> = [
      [PPRF_MSG_BYTES, (b) => decodePprfMsg(b, from)],
      [OTE_MSG_BYTES, (b) => decodeOteExtensionMsg(b, from)],
    ];
    for (const [size, decode] of decoders) {
      fc.assert(fc.property(sized(size), (b) => dkls(() => decode(b), from)), { numRuns: 30 });
    }
    for (const decode of [decodeBaseOtMsg1, decodeBaseOtMsg2, decodeOtSetupMsg1, decodeOtSetupMsg2]) {
      fc.assert(fc.property(bytes(400), (b) => dkls(() => decode(b, from), from)), { numRuns: 60 });
    }
  });

  test('unpackFields: any bytes against any field layout', () => {
    const layout = fc.array(fc.option(fc.nat({ max: 40 }), { nil: undefined }), { maxLength: 5 });
    const packed = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 })).chain(([round, fields]) =>
      fc.tuple(fc.constant(round), fc.oneof(fc.constant(packFields(round, fields)), damaged(packFields(round, fields)))),
    );
    fc.assert(
      fc.property(packed, layout, ([round, b], lengths) => dkls(() => unpackFields(b, round, lengths, from), from)),
      { numRuns: RUNS * 2 },
    );
  });

  test('OT-extension seeds (stored sealed): damaged records give a Dkls23Error', () => {
    const sender = encodeOteSenderSeed({ type: 'dkls23/ote-sender-seed', delta: new Uint8Array(OTE_SENDER_SEED_BYTES - 2 - PPRF_LEAF_BYTES), leaves: new Uint8Array(PPRF_LEAF_BYTES) });
    const receiver = encodeOteReceiverSeed({ type: 'dkls23/ote-receiver-seed', leaves: new Uint8Array(PPRF_LEAF_BYTES) });
    assert.equal(receiver.length, OTE_RECEIVER_SEED_BYTES);
    fc.assert(fc.property(fc.oneof(bytes(), damaged(sender)), (b) => dkls(() => decodeOteSenderSeed(b))), { numRuns: 40 });
    fc.assert(fc.property(fc.oneof(bytes(), damaged(receiver)), (b) => dkls(() => decodeOteReceiverSeed(b))), { numRuns: 40 });
  });

  test('key share public package (stored JSON): arbitrary JSON gives a Dkls23Error', () => {
    const pub: Dkls23Public = {
      v: 1,
      threshold: 2,
      parties: [asPartyId('node-1'), from],
      dkgSid: new Uint8Array(32),
      epoch: 0,
      publicKey: point(),
      publicShares: [point(), point()],
      chainCode: new Uint8Array(32),
    };
    const json = publicToJson(pub);
    assert.doesNotThrow(() => publicFromJson(json));
    const fieldEdit = fc.tuple(fc.constantFrom(...Object.keys(json)), fc.oneof(anyJson, fc.constant(undefined))).map(([k, v]) => ({ ...json, [k]: v }));
    fc.assert(fc.property(fc.oneof(anyJson, fieldEdit), (j) => dkls(() => publicFromJson(j))), { numRuns: RUNS });

    // The secret half, against the same public package.
    const share: Dkls23KeyShare = {
      self: asPartyId('node-1'),
      pub,
      secret: sk,
      peers: new Map([[from, { zeroSeed: new Uint8Array(32), oteSender: decodeOteSenderSeed(encodeOteSenderSeed({ type: 'dkls23/ote-sender-seed', delta: new Uint8Array(OTE_SENDER_SEED_BYTES - 2 - PPRF_LEAF_BYTES), leaves: new Uint8Array(PPRF_LEAF_BYTES) })), oteReceiver: decodeOteReceiverSeed(encodeOteReceiverSeed({ type: 'dkls23/ote-receiver-seed', leaves: new Uint8Array(PPRF_LEAF_BYTES) })) }]]),
    };
    const secret = encodeSecret(share);
    assert.doesNotThrow(() => decodeSecret(share.self, pub, secret));
    // Damage near the front, where the scalar and the seeds' headers are, as well as anywhere.
    const front = fc.tuple(fc.nat({ max: 80 }), fc.integer({ min: 0, max: 255 })).map(([at, v]) => {
      const b = Uint8Array.from(secret);
      b[at] = v;
      return b;
    });
    fc.assert(fc.property(fc.oneof(bytes(), damaged(secret), front), (b) => dkls(() => decodeSecret(share.self, pub, b))), { numRuns: 40 });
  });

  test('BIP32 paths and xpubs: arbitrary text gives a Dkls23Error', () => {
    const xpub = encodeXpub({ publicKey: point(), chainCode: new Uint8Array(32).fill(1), depth: 0, parentFingerprint: new Uint8Array(4), childNumber: 0 });
    assert.doesNotThrow(() => decodeXpub(xpub));
    const b58 = fc.string({ unit: fc.constantFrom(...'123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl'), maxLength: 120 });
    const edited = fc.tuple(fc.nat(), fc.constantFrom(...'123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz')).map(([at, c]) => {
      const k = at % xpub.length;
      return xpub.slice(0, k) + c + xpub.slice(k + 1);
    });
    fc.assert(fc.property(fc.oneof(nastyString, b58, edited), (s) => protocol(() => decodeXpub(s))), { numRuns: RUNS });
    const numbers = fc.array(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 31, 2 ** 32, -0, Number.NaN)), { maxLength: 6 });
    fc.assert(fc.property(fc.oneof(nastyString, numbers), (p) => protocol(() => parseDerivationPath(p))), { numRuns: RUNS });
  });
});

describe('ceremony messages', () => {
  test('decodeItems: any body gives the items or a ProtocolError naming the sender', () => {
    const b64 = fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString('base64'));
    const body = fc.oneof(anyJson, fc.array(fc.oneof(b64, nastyString), { maxLength: 4 }));
    fc.assert(fc.property(body, fc.nat({ max: 4 }), (b, count) => protocol(() => decodeItems(b, count, from, 'round'), from)), { numRuns: RUNS * 2 });
  });
});

describe('ceremony channels', () => {
  const ids = ['node-1', 'node-2'].map(asPartyId) as [PartyId, PartyId];
  const keys = ids.map(() => generateKeyPairSync('x25519'));
  const identities = ids.map((id, k) => identityFromPrivateKey(id, keys[k]!.privateKey));
  const directory = new Map<PartyId, Uint8Array>(identities.map((i) => [i.partyId, i.publicKey]));
  const rawPrivate = (k: number) => new Uint8Array(keys[k]!.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32));

  const channels = () => {
    const c = randomUUID() as CeremonyId;
    return {
      sender: new CeremonyChannel(identities[1]!, c, directory),
      node: new CeremonyChannel(identities[0]!, c, directory),
      portable: new PortableCeremonyChannel(portableIdentity(ids[0], rawPrivate(0)), c, directory),
    };
  };

  test('open(): damaged, replayed and random envelopes give a ChannelError naming the sender, in both implementations', () => {
    const c = channels();
    const envelope = c.sender.seal(ids[0], new TextEncoder().encode('a message'));
    const again = new CeremonyChannel(identities[1]!, c.node.ceremony, directory).seal(ids[0], new Uint8Array(0));
    fc.assert(
      fc.property(fc.oneof(bytes(300), damaged(envelope), damaged(again)), fc.constantFrom(ids[1], asPartyId('node-9')), (b, sender) => {
        // Undamaged copies are authentic and would open (pinning their sender's ephemeral key).
        fc.pre(!Buffer.from(b).equals(Buffer.from(envelope)) && !Buffer.from(b).equals(Buffer.from(again)));
        onlyTyped(ChannelError, () => c.node.open(sender, b), (e) => e.party, sender);
        onlyTyped(PortableChannelError, () => c.portable.open(sender, b), (e) => e.party, sender);
      }),
      { numRuns: RUNS },
    );
    // Garbage never desynchronises a channel: the authentic envelope still opens.
    assert.equal(new TextDecoder().decode(c.node.open(ids[1], envelope)), 'a message');
    assert.equal(new TextDecoder().decode(c.portable.open(ids[1], envelope)), 'a message');
  });
});

describe('relay frames', () => {
  test('fromBase64: any text gives bytes (as Buffer decodes them) or undefined, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(nastyString, fc.base64String({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64'))), (s) => {
        const out = fromBase64(s);
        if (out !== undefined) assert.deepEqual(Buffer.from(out), Buffer.from(s, 'base64'));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  /** A relay frame as text: valid frames with arbitrary fields, and arbitrary text. */
  const frameText = fc.oneof(
    nastyString,
    anyJson.map((v) => JSON.stringify(v) ?? 'null'),
    fc
      .record({ t: fc.constantFrom('joined', 'msg', 'error', 'join', 'send', 'leave', 'x'), room: anyJson, party: anyJson, from: anyJson, to: anyJson, data: fc.oneof(anyJson, fc.base64String()), req: anyJson, reason: anyJson }, { requiredKeys: ['t'] })
      .map((f) => JSON.stringify(f)),
  );

  test('the client (RelayConnection): any frame from a relay is delivered, dropped or reported, never thrown', async () => {
    // A socket the test drives: it opens at once and lets the test play the relay.
    class Scripted implements WebSocketLike {
      static last: Scripted;
      readyState = 0;
      onopen: ((e: unknown) => void) | null = null;
      onmessage: ((e: { data: unknown }) => void) | null = null;
      onclose: ((e: { code: number }) => void) | null = null;
      onerror: ((e: unknown) => void) | null = null;
      sent: string[] = [];
      constructor() {
        Scripted.last = this;
        queueMicrotask(() => {
          this.readyState = 1;
          this.onopen?.({});
        });
      }
      send(data: string) {
        this.sent.push(data);
      }
      close() {
        this.readyState = 3;
        this.onclose?.({ code: 1000 });
      }
    }
    const conn = await RelayConnection.connect('ws://relay.invalid', { WebSocket: Scripted });
    const ws = Scripted.last;
    const delivered: Array<[string, Uint8Array]> = [];
    const joined = conn.join('room-1', 'node-1', (f, d) => delivered.push([f, d]));
    ws.onmessage!({ data: JSON.stringify({ t: 'joined', room: 'room-1', party: 'node-1', req: 1 }) });
    await joined;
    conn.onError(() => {});
    fc.assert(
      fc.property(frameText, (text) => {
        ws.onmessage!({ data: text });
      }),
      { numRuns: RUNS * 2 },
    );
    for (const [sender, data] of delivered) {
      assert.equal(typeof sender, 'string');
      assert.ok(data instanceof Uint8Array);
    }
    await conn.close();
  });

  test('the relay server: any frame is answered with an error frame or acted on; the relay keeps serving', async () => {
    // A fuzzed frame may be a well-formed join without evidence: refused like any other, and
    // here as often as it likes (dropping a socket after refused joins has its own test).
    const relay = await startRelay({ port: 0, nodes: TEST_RELAY.nodes, maxRefusedJoinsPerConnection: Number.MAX_SAFE_INTEGER });
    try {
      const url = `ws://127.0.0.1:${relay.port}`;
      const ws = new WebSocket(url);
      const frames: Array<Record<string, unknown>> = [];
      ws.on('message', (raw) => frames.push(JSON.parse(String(raw)) as Record<string, unknown>));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      await fc.assert(
        fc.asyncProperty(frameText, async (text) => {
          ws.send(text);
        }),
        { numRuns: RUNS * 2 },
      );
      // A round trip behind the fuzz: everything before it has been handled.
      ws.send(JSON.stringify({ t: 'join', room: 'after-fuzz', party: 'p1', req: 424242, cap: TEST_RELAY.capability('after-fuzz', 'p1') }));
      for (let i = 0; i < 200 && !frames.some((f) => f.req === 424242); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(frames.some((f) => f.t === 'joined' && f.req === 424242), 'the relay still answers on the same socket');
      for (const f of frames) assert.ok(['hello', 'joined', 'msg', 'error'].includes(String(f.t)), `a relay frame: ${JSON.stringify(f).slice(0, 200)}`);
      assert.equal(ws.readyState, WebSocket.OPEN, 'garbage does not cost the socket');
      ws.terminate();
    } finally {
      await relay.close();
    }
  });
});
