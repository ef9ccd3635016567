/**
 * The relay's NATS JetStream backplane: any number of relay processes pointed at the same NATS
 * server (or cluster) and stream name serve one relay. See backplane.ts for the interface.
 *
 * Client library: @nats-io/transport-node + @nats-io/jetstream 3.x, the NATS maintainers' current
 * JavaScript client (the `nats` 2.x package is its predecessor, now only maintained). Pure
 * JavaScript, no native parts, and it speaks to servers from 2.9 on (this machine runs 2.9.10).
 * (@nats-io/nuid 3.0.0, one of its dependencies, declares node >= 22 but runs on Node 20.)
 *
 * Subjects. A message for party P of room R is published on `<stream>.m.<b64url(R)>.<b64url(P)>`
 * with the sender in a `Tandem-From` header. Room names and party ids are base64url-encoded, so
 * a token can only hold [A-Za-z0-9_-]: whatever ROOM_RE and RELAY_PARTY_RE admit (now or later),
 * no '.', '*', '>' or whitespace can reach a subject, and no party can subscribe to a wildcard.
 *
 * Stream (created if missing, its limits updated to this relay's if they differ):
 * - subjects `<stream>.m.>`, limits retention, file storage (survives relay and NATS restarts);
 * - max_age = roomTtlMs: a message waits at most the room TTL for its recipient (in memory the
 *   TTL runs from the room's last activity instead: here from the message's own arrival);
 * - max_bytes = maxTotalBufferBytes with discard `new`: beyond it a send is refused ("relay
 *   buffers are full"), as in memory (which counts base64 characters; JetStream counts stored
 *   bytes: payload, subject and headers). It bounds what all relays' consumers can have
 *   fetched too, each at most 4 MiB ahead per joined party;
 * - max_msgs_per_subject = maxBufferedPerRoom: per (room, party), oldest dropped (in memory the
 *   count is per room); the per-room byte cap (maxRoomBufferBytes) has no JetStream equivalent
 *   and is not enforced: a party's backlog is bounded by that count times the message size,
 *   and all of them together by max_bytes;
 * - no per-sender share is kept here (whoever delivers a message deletes it, on any relay): the
 *   server holds each client to a share of what it sent within the TTL (recent-sends.ts), and
 *   every sender to its rate quotas (quotas.ts); who may send at all is each relay's own
 *   admission check (admission.ts), so nothing changes for messages crossing relays;
 * - the message size limit stays the relay's MAX_FRAME_BYTES frame check; the payload stored is
 *   the decoded bytes (3/4 of the base64), so a full-size frame fits NATS's default 1 MiB
 *   max_payload, which is checked at start.
 *
 * Delivery. Each (room, party) joined on a relay has one ephemeral pull consumer on that relay
 * (filter = the party's subject, deliver all, explicit ack, in-memory state, removed by the
 * server 30 s after the relay stops pulling). Every message, also one for a party joined on the
 * same relay, goes through the stream: accepted means stored, and there is one delivery path,
 * so no message arrives both locally and via NATS. Once this relay has written a message to at
 * least one socket of the party it acks it and deletes it from the stream, so a later join (on
 * any relay) gets only what no socket has been given: the in-memory "buffer until joined, then
 * hand over" semantics. A message waiting for a party that is not joined anywhere simply stays
 * in the stream until a join's consumer reads it, or max_age ends it.
 *
 * At least once: a relay killed between writing a message and deleting it, or a party joined on
 * two relays at once, may see a message twice (the ceremony channel drops replays). A party
 * joined on two relays gets each message on both as long as both consumers read it before the
 * first relay deletes it, which is the normal case (both have a pull waiting), not a guarantee.
 *
 * Failure. Every NATS call has a timeout (timeoutMs). Startup fails with a clear error if NATS
 * is unreachable, has no JetStream or a too small max_payload. Afterwards the client reconnects
 * forever; while disconnected `connected` is false, every send and join is refused at once with
 * an `error` frame, and the server closes the sockets it had (code 1013) so parties fail fast and
 * reconnect, to this relay or another. A consumer that disappears is recreated once; if that
 * fails the party's sockets are closed.
 */
import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import {
  BACKPLANE_UNAVAILABLE,
  BUFFERS_FULL,
  RelayRefusal,
  type Backplane,
  type BackplaneLimits,
  type Deliver,
  type PartySubscription,
} from './backplane.js';
import { MAX_FRAME_BYTES, RELAY_PARTY_RE } from './protocol.js';
import { withTimeout } from '../core/timeout.js';

export interface NatsBackplaneOptions {
  /** `nats://host:port`, or several separated by commas (one NATS cluster). */
  url: string;
  /** JetStream stream name; relays with the same URL and stream form one relay. */
  stream?: string;
  /** Bound on every NATS call (connect, publish, JetStream API). */
  timeoutMs?: number;
  /** Stream replicas, for a NATS cluster (1 on a single server). */
  replicas?: number;
}

export const DEFAULT_NATS_STREAM = 'TANDEM_RELAY';
/** JetStream names may not hold '.', '*', '>', whitespace or path separators; this admits fewer. */
export const NATS_STREAM_RE = /^[A-Za-z0-9_-]{1,32}$/;
const DEFAULT_TIMEOUT_MS = 5000;
const FROM_HEADER = 'Tandem-From';
/** Present (value `text`) when `data` was not canonical base64 and is stored as its UTF-8 text. */
const ENC_HEADER = 'Tandem-Enc';
/** Room for the headers and protocol line next to the payload within max_payload. */
const HEADER_ROOM = 512;
/** A full-size frame's data, decoded, must fit NATS's max_payload. */
const MIN_MAX_PAYLOAD = Math.ceil((MAX_FRAME_BYTES * 3) / 4) + HEADER_ROOM;
/** Bytes of sends waiting for JetStream's acknowledgement; beyond it sends are refused, so a stuck NATS cannot fill memory. */
const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;
/** The server removes a relay's consumer this long after the relay stopped pulling (e.g. it was killed). */
const CONSUMER_INACTIVE_MS = 30_000;
const ACK_WAIT_MS = 30_000;
/** What one party's consumer may have fetched ahead of delivery (room for several full-size messages). */
const PULL_MAX_BYTES = 4 * 1024 * 1024;
const API_STREAM_NOT_FOUND = 10059;
const API_STREAM_NAME_IN_USE = 10058;
const API_MAX_BYTES = 10077;
const API_MAX_MSGS = 10078;
const API_MSG_TOO_LARGE = 10054;
const API_NO_MESSAGE = 10057;

/** base64url without padding: [A-Za-z0-9_-] only, never empty for a non-empty name. */
export function subjectToken(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

export function partySubject(stream: string, room: string, party: string): string {
  return `${stream}.m.${subjectToken(room)}.${subjectToken(party)}`;
}

/** `nats://user:secret@host:4222` without what comes before '@', for messages and logs. */
export function redactNatsUrl(url: string): string {
  return url
    .split(',')
    .map((u) => u.trim().replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1'))
    .join(',');
}

export async function connectNatsBackplane(
  opts: NatsBackplaneOptions,
  limits: BackplaneLimits,
  log: (msg: string) => void,
): Promise<NatsBackplane> {
  const stream = opts.stream ?? DEFAULT_NATS_STREAM;
  if (!NATS_STREAM_RE.test(stream)) throw new Error(`invalid NATS stream name ${JSON.stringify(stream)} (expected ${NATS_STREAM_RE.source})`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const where = `NATS at ${redactNatsUrl(opts.url)}`;
  const servers = opts.url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new Error('empty NATS URL');
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: 'tandem-relay',
      timeout: timeoutMs,
      // Once connected, never give up: while NATS is away the relay refuses traffic, then resumes.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // A dead link (no RST) is noticed within ~2 pings rather than the default 4 minutes.
      pingInterval: 10_000,
      maxPingOut: 2,
    });
  } catch (err) {
    throw new Error(`${where} is unreachable: ${errorText(err)}`);
  }
  try {
    if (!nc.info?.jetstream) throw new Error('JetStream is not enabled on that server (start nats-server with -js)');
    const maxPayload = nc.info.max_payload;
    if (maxPayload < MIN_MAX_PAYLOAD) {
      throw new Error(`its max_payload (${maxPayload} bytes) is below the ${MIN_MAX_PAYLOAD} bytes a full relay frame needs`);
    }
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    await ensureStream(jsm, stream, limits, opts.replicas ?? 1, log);
    const js = jetstream(nc, { timeout: timeoutMs });
    return new NatsBackplane(nc, js, jsm, stream, timeoutMs, maxPayload, log, where);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new Error(`${where}: ${errorText(err)}`);
  }
}

async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  limits: BackplaneLimits,
  replicas: number,
  log: (msg: string) => void,
  retried = false,
): Promise<void> {
  const want = {
    subjects: [`${name}.m.>`],
    discard: DiscardPolicy.New,
    max_age: nanos(limits.roomTtlMs),
    max_bytes: limits.maxTotalBufferBytes,
    max_msgs: -1,
    max_msgs_per_subject: limits.maxBufferedPerRoom,
    // No message ids are used; the window must not exceed max_age.
    duplicate_window: nanos(Math.min(limits.roomTtlMs, 120_000)),
    num_replicas: replicas,
  } satisfies Partial<StreamConfig>;
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === API_STREAM_NOT_FOUND)) throw err;
    try {
      await jsm.streams.add({ name, retention: RetentionPolicy.Limits, storage: StorageType.File, ...want });
    } catch (addErr) {
      // Another relay starting at the same moment created it first (with other limits): check again.
      if (retried || !(addErr instanceof JetStreamApiError && addErr.code === API_STREAM_NAME_IN_USE)) throw addErr;
      return ensureStream(jsm, name, limits, replicas, log, true);
    }
    log(`created NATS stream ${name}`);
    return;
  }
  if (current.retention !== RetentionPolicy.Limits || current.storage !== StorageType.File) {
    throw new Error(`stream ${name} exists with retention ${current.retention} and storage ${current.storage}; expected limits and file`);
  }
  const differs = (Object.keys(want) as Array<keyof typeof want>).filter(
    (k) => JSON.stringify(current[k]) !== JSON.stringify(want[k]),
  );
  if (differs.length === 0) return;
  await jsm.streams.update(name, { ...current, ...want });
  log(`updated NATS stream ${name} (${differs.join(', ')}): relays sharing it should run with the same limits`);
}

export class NatsBackplane implements Backplane {
  readonly kind = 'nats';
  private up = true;
  private closing = false;
  private inflightBytes = 0;
  private readonly statusListeners: Array<(connected: boolean, reason: string) => void> = [];
  private readonly subs = new Set<NatsSubscription>();
  /** Consumer and message deletions under way, awaited by close(). */
  private readonly cleanups = new Set<Promise<unknown>>();

  constructor(
    private readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly stream: string,
    private readonly timeoutMs: number,
    private readonly maxPayload: number,
    readonly log: (msg: string) => void,
    private readonly where: string,
  ) {
    void this.watchStatus();
    void nc.closed().then((err) => {
      if (!this.closing) this.setUp(false, `connection to ${where} closed${err ? `: ${err.message}` : ''}`);
    });
  }

  get connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  onStatus(cb: (connected: boolean, reason: string) => void): void {
    this.statusListeners.push(cb);
  }

  async subscribe(room: string, party: string, deliver: Deliver, onFail: (reason: string) => void): Promise<PartySubscription> {
    if (!this.connected) throw new RelayRefusal('relay backplane unavailable');
    const sub = new NatsSubscription(this, partySubject(this.stream, room, party), `${room}/${party}`, deliver, onFail);
    try {
      await sub.open();
    } catch (err) {
      this.log(`join ${room}/${party}: could not create a consumer: ${errorText(err)}`);
      throw new RelayRefusal('relay backplane unavailable');
    }
    this.subs.add(sub);
    return sub;
  }

  publish(room: string, from: string, to: string, data: string): Promise<void> {
    if (!this.connected) return Promise.reject(new RelayRefusal(BACKPLANE_UNAVAILABLE));
    const binary = canonicalBase64(data);
    const payload = binary ?? Buffer.from(data, 'utf8');
    if (payload.length + HEADER_ROOM > this.maxPayload) return Promise.reject(new RelayRefusal('frame too large'));
    if (this.inflightBytes + payload.length > MAX_INFLIGHT_BYTES) {
      this.log(`room ${room}: ${this.inflightBytes} bytes of sends await NATS, refused a message ${from} -> ${to}`);
      return Promise.reject(new RelayRefusal(BACKPLANE_UNAVAILABLE));
    }
    const h = headers();
    h.set(FROM_HEADER, from);
    if (!binary) h.set(ENC_HEADER, 'text');
    this.inflightBytes += payload.length;
    // js.publish writes the message before its first await, so overlapping calls keep their order.
    return this.js
      .publish(partySubject(this.stream, room, to), payload, {
        headers: h,
        expect: { streamName: this.stream },
        timeout: this.timeoutMs,
      })
      .then(
        () => undefined,
        (err: unknown) => {
          throw this.refusal(err, `room ${room}: message ${from} -> ${to}`);
        },
      )
      .finally(() => {
        this.inflightBytes -= payload.length;
      });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const sub of [...this.subs]) sub.close();
    await Promise.allSettled([...this.cleanups]);
    // drain() flushes what is pending; close() if NATS does not answer in time.
    await withTimeout(this.nc.drain(), this.timeoutMs).catch(() => this.nc.close());
  }

  /** Deletes a delivered message, so that later joins don't get it again. */
  forget(seq: number): void {
    this.track(
      this.jsm.streams.deleteMessage(this.stream, seq, false).catch((err: unknown) => {
        // Another relay holding the same party deleted it first: fine.
        if (err instanceof JetStreamApiError && err.code === API_NO_MESSAGE) return;
        this.log(`could not delete delivered message ${seq}: ${errorText(err)} (it may be delivered again)`);
      }),
    );
  }

  track(p: Promise<unknown>): void {
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
  }

  dropped(sub: NatsSubscription): void {
    this.subs.delete(sub);
  }

  private refusal(err: unknown, what: string): RelayRefusal {
    if (err instanceof RelayRefusal) return err;
    if (err instanceof JetStreamApiError) {
      if (err.code === API_MAX_BYTES || err.code === API_MAX_MSGS) {
        this.log(`${what} refused: the stream ${this.stream} is full (${err.message})`);
        return new RelayRefusal(BUFFERS_FULL);
      }
      if (err.code === API_MSG_TOO_LARGE) return new RelayRefusal('frame too large');
    }
    this.log(`${what} not accepted by ${this.where}: ${errorText(err)}`);
    return new RelayRefusal(BACKPLANE_UNAVAILABLE);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.setUp(false, `disconnected from ${this.where}`);
          break;
        case 'reconnect':
          this.setUp(true, `reconnected to ${this.where}`);
          break;
        case 'error':
          this.log(`${this.where}: ${errorText(s.error)}`);
          break;
        case 'ldm':
          this.log(`${this.where}: server entering lame duck mode, will reconnect elsewhere`);
          break;
        case 'staleConnection':
          this.log(`${this.where}: stale connection, reconnecting`);
          break;
        default:
          break;
      }
    }
  }

  private setUp(up: boolean, reason: string): void {
    if (this.up === up || this.closing) return;
    this.up = up;
    for (const cb of this.statusListeners) cb(up, reason);
  }
}

/** One party's consumer on this relay. */
class NatsSubscription implements PartySubscription {
  private consumer: Consumer | undefined;
  private name: string | undefined;
  private messages: ConsumerMessages | undefined;
  private started = false;
  private closed = false;

  constructor(
    private readonly bp: NatsBackplane,
    private readonly subject: string,
    private readonly label: string,
    private readonly deliver: Deliver,
    private readonly onFail: (reason: string) => void,
  ) {}

  async open(): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      filter_subject: this.subject,
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ACK_WAIT_MS),
      max_ack_pending: 1024,
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
      mem_storage: true,
    };
    const info = await this.bp.jsm.consumers.add(this.bp.stream, config);
    this.name = info.name;
    this.consumer = this.bp.js.consumers.getConsumerFromInfo(info);
    if (this.closed) this.deleteConsumer();
  }

  resume(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.run();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bp.dropped(this);
    void this.messages?.close();
    this.deleteConsumer();
  }

  private deleteConsumer(): void {
    const name = this.name;
    this.name = undefined;
    // While NATS is away the server drops the consumer by itself (inactive_threshold).
    if (name === undefined || !this.bp.connected) return;
    this.bp.track(this.bp.jsm.consumers.delete(this.bp.stream, name).catch(() => undefined));
  }

  private async run(): Promise<void> {
    let recreated = false;
    for (;;) {
      let reason = 'consumer stopped';
      try {
        this.messages = await this.consumer!.consume({
          max_bytes: PULL_MAX_BYTES,
          // A consumer deleted behind our back ends the loop instead of retrying forever.
          abort_on_missing_resource: true,
        });
        if (this.closed) {
          void this.messages.close();
          return;
        }
        for await (const m of this.messages) {
          if (this.closed) return;
          this.handle(m);
          recreated = false;
        }
        const err = await this.messages.closed();
        if (err) reason = errorText(err);
      } catch (err) {
        reason = errorText(err);
      }
      if (this.closed) return;
      // The consumer vanished (deleted, or the server forgot it): a fresh one resumes from what is left.
      if (!recreated && this.bp.connected) {
        this.bp.log(`${this.label}: ${reason}; recreating its consumer`);
        recreated = true;
        try {
          this.deleteConsumer();
          await this.open();
          if (this.closed) return;
          continue;
        } catch (err) {
          reason = errorText(err);
        }
      }
      this.closed = true;
      this.bp.dropped(this);
      this.deleteConsumer();
      this.onFail(reason);
      return;
    }
  }

  private handle(m: JsMsg): void {
    const from = m.headers?.get(FROM_HEADER) ?? '';
    if (!RELAY_PARTY_RE.test(from)) {
      // Not published by a relay (someone else wrote to the stream's subjects): not delivered.
      this.bp.log(`${this.label}: dropped stream message ${m.seq} without a valid ${FROM_HEADER}`);
      m.ack();
      this.bp.forget(m.seq);
      return;
    }
    const bytes = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    const data = m.headers?.get(ENC_HEADER) === 'text' ? bytes.toString('utf8') : bytes.toString('base64');
    if (this.deliver({ from, data })) {
      m.ack();
      this.bp.forget(m.seq);
    } else {
      // No socket could take it (they are closing): left in the stream for the next join.
      m.nak(1000);
    }
  }
}

/** The decoded bytes when `text` is exactly what Buffer would encode them as; undefined otherwise. */
function canonicalBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
