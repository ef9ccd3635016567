import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Passport, type Network } from '@0xpass/passport';
import { ethers } from 'ethers';
import { startCluster, type Cluster, type ManagedProcess } from '../src/cluster/processes.js';
import { newAdminKey } from '../src/api/api-keys.js';
import { SoftAuthenticator } from '../test/helpers/soft-authenticator.js';
import { balancer } from '../test/helpers/balancer.js';
import { dropSchemas, TEST_POSTGRES_URL } from '../test/helpers/cluster.js';
import { summarize } from './stats.js';
import { secretsDirOf } from '../src/cluster/secrets.js';

/**
 * `npm run load [-- --users 8 --seconds 30 --faults]`: the production layout on this machine
 * (two relays on NATS, three nodes and two gateway copies on PostgreSQL; see
 * src/cluster/production.ts), a round-robin balancer in front of the gateway copies, and N
 * passkey users signing with the unmodified Passport SDK for M seconds. Every signature is
 * checked with ethers; afterwards the nodes' audit logs (in PostgreSQL) are read to prove that
 * no answered request is missing there and no message was signed twice. With --faults, one
 * node, one relay and one gateway copy are killed with SIGKILL at random moments (and restarted
 * five seconds later), and the report says what the clients saw.
 *
 * Exit status 1 when a signature fails verification, a request got no answer, an answered
 * signature is missing from the audit logs, or a message was signed twice.
 */
const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '30' },
    faults: { type: 'boolean', default: false },
    'base-port': { type: 'string', default: '7300' },
  },
});
const USERS = Number(values.users);
const SECONDS = Number(values.seconds);
const BASE = Number(values['base-port']);
if (!Number.isInteger(USERS) || USERS < 1 || !(SECONDS > 0) || !Number.isInteger(BASE)) {
  process.stderr.write('usage: npm run load -- [--users N] [--seconds M] [--faults] [--base-port P]\n');
  process.exit(2);
}
const NATS_URL = process.env.TANDEM_RELAY_NATS_URL ?? 'nats://127.0.0.1:4222';
const ORIGIN = 'http://localhost:3000';
const progress = (msg: string) => process.stderr.write(`[load] ${msg}\n`);

interface Outcome {
  message: string;
  ok: boolean;
  kind: string;
  ms: number;
  at: number;
}

async function newUser(url: string, scope: string, enclavePublicKey: string, i: number): Promise<{ passport: Passport; address: string }> {
  const passport = new Passport({ scopeId: scope, signer: new SoftAuthenticator({ origin: ORIGIN }), network: url as Network, enclavePublicKey });
  await passport.setupEncryption();
  const user = { username: `load-${i}-${randomBytes(4).toString('hex')}`, userDisplayName: `load ${i}` };
  const reg = await passport.register(user);
  if (reg.error) throw new Error(`register: ${JSON.stringify(reg.error)}`);
  const [, address] = await passport.authenticate(user);
  return { passport, address: ethers.getAddress(address) };
}

async function auditDigests(cluster: Cluster, adminKey: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const node of cluster.nodes) {
    for (let after = 0; ; ) {
      const res = await fetch(`${node.url}/admin/audit?after_seq=${after}&limit=1000`, { headers: { authorization: adminKey } });
      const page = (await res.json()) as { entries: Array<{ operation: string; detail: { digests?: string[] } | null }>; next_after_seq: number | null };
      for (const e of page.entries) if (e.operation === 'signed') for (const d of e.detail?.digests ?? []) seen.set(d, (seen.get(d) ?? 0) + 1);
      if (page.next_after_seq === null) break;
      after = page.next_after_seq;
    }
  }
  return seen;
}

function killLater(p: ManagedProcess, atMs: number, events: string[], t0: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(async () => {
      events.push(`${((Date.now() - t0) / 1000).toFixed(1)} s: SIGKILL ${p.name}`);
      await p.stop('SIGKILL');
      setTimeout(async () => {
        await p.start();
        events.push(`${((Date.now() - t0) / 1000).toFixed(1)} s: restarted ${p.name}`);
        resolve();
      }, 5000);
    }, atMs);
  });
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

async function main(): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-load-'));
  const prefix = `tandem_load_${randomBytes(3).toString('hex')}`;
  const adminKey = newAdminKey();
  const logFile = join(dataDir, 'processes.log');
  progress(`starting 2 relays (NATS ${NATS_URL}), 3 nodes and 2 gateway copies (PostgreSQL ${TEST_POSTGRES_URL}, schemas ${prefix}_*); logs in ${logFile}`);
  let cluster: Cluster | undefined;
  let lb: { server: Server; retried: () => number } | undefined;
  try {
    cluster = await startCluster({
      dataDir,
      basePort: BASE,
      relayPorts: [BASE, BASE + 10],
      nodes: 3,
      env: {
        TANDEM_ADMIN_KEY: adminKey,
        TANDEM_DATABASE_URL: TEST_POSTGRES_URL,
        TANDEM_DATABASE_SCHEMA_PREFIX: prefix,
        TANDEM_RELAY_NATS_URL: NATS_URL,
        TANDEM_RELAY_NATS_STREAM: prefix.toUpperCase(),
        TANDEM_SCOPE_ID: 'load',
        // Every simulated user comes from this one address, as fast as it can: the gateway's
        // per-address and per-scope rates would measure themselves, not the cluster.
        ...Object.fromEntries(
          ['REGISTRATIONS', 'KEYGENS', 'SIGNATURES'].flatMap((k) => [
            [`TANDEM_GATEWAY_${k}_PER_ADDRESS`, 'off'],
            [`TANDEM_GATEWAY_${k}_PER_SCOPE`, 'off'],
          ]),
        ),
        TANDEM_GATEWAY_MAX_KEYGENS_PER_SCOPE: '4',
      },
      gateway: { port: BASE + 20, devScope: true, copies: 2 },
      output: (name, line) => appendFileSync(logFile, `[${name}] ${line}\n`),
    });
    lb = balancer(cluster.gateways.map((g) => g.url));
    await new Promise<void>((resolve) => lb!.server.listen(BASE + 30, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${BASE + 30}`;
    const enclaveKey = ((await (await fetch(`${url}/enclave-public-key`)).json()) as { public_key: string }).public_key;

    progress(`registering ${USERS} passkey users (a 2-of-3 ECDSA keygen each)`);
    const users: Array<{ passport: Passport; address: string }> = [];
    for (let i = 0; i < USERS; i += 4) users.push(...(await Promise.all(Array.from({ length: Math.min(4, USERS - i) }, (_, k) => newUser(url, 'load', enclaveKey, i + k)))));

    progress(`${USERS} users signing for ${SECONDS} s${values.faults ? ', with faults' : ''}`);
    const outcomes: Outcome[] = [];
    const events: string[] = [];
    const t0 = Date.now();
    const deadline = t0 + SECONDS * 1000;
    const faults = values.faults
      ? [pick(cluster.nodes), pick(cluster.relays), pick(cluster.gateways)].map((p) => killLater(p, (0.2 + Math.random() * 0.5) * SECONDS * 1000, events, t0))
      : [];
    const verified = { ok: 0, bad: 0 };
    let sent = 0;
    const load = Promise.all(
      users.map(async (u, i) => {
        for (let seq = 0; Date.now() < deadline; seq++) {
          const message = `load user ${i} #${seq} ${randomBytes(6).toString('hex')}`;
          sent++;
          const start = performance.now();
          let kind = 'ok';
          try {
            const res = await u.passport.signMessage(message);
            if (res.result) {
              if (ethers.verifyMessage(message, res.result) === u.address) verified.ok++;
              else {
                verified.bad++;
                kind = 'bad signature';
              }
            } else kind = `rpc ${res.error?.data ?? res.error?.message ?? 'error'}`;
          } catch (e) {
            const err = e as { response?: { status?: number }; code?: string; message?: string };
            kind = err.response?.status ? `http ${err.response.status}` : `network ${err.code ?? err.message ?? 'error'}`;
          }
          outcomes.push({ message, ok: kind === 'ok', kind, ms: performance.now() - start, at: Date.now() - t0 });
        }
      }),
    );
    // A request still without an answer two minutes after the end counts as lost.
    await Promise.race([load, new Promise((r) => setTimeout(r, SECONDS * 1000 + 120_000).unref())]);
    const elapsed = (Date.now() - t0) / 1000;
    const unanswered = sent - outcomes.length;
    await Promise.all(faults);

    // Every node back (a restarted one rejoins), then the audit logs are complete.
    progress('reading the nodes\' audit logs');
    for (const n of cluster.nodes) for (let i = 0; i < 100 && !(await fetch(`${n.url}/health`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
    const audited = await auditDigests(cluster, adminKey);
    const digest = (m: string) => createHash('sha256').update(ethers.getBytes(ethers.hashMessage(m))).digest('hex');
    const answered = outcomes.filter((o) => o.ok);
    const missing = answered.filter((o) => !audited.has(digest(o.message))).length;
    const twice = outcomes.filter((o) => (audited.get(digest(o.message)) ?? 0) > 1).length;
    const signedButRefused = outcomes.filter((o) => !o.ok && audited.has(digest(o.message))).length;
    const kinds = new Map<string, number>();
    for (const o of outcomes) if (!o.ok) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);

    const lat = summarize(answered.map((o) => o.ms));
    const sorted = answered.map((o) => o.ms).sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? Number.NaN;
    const out = [
      '',
      `load: ${USERS} users, ${elapsed.toFixed(1)} s, 2 relays (NATS) + 3 nodes + 2 gateway copies (PostgreSQL)${values.faults ? ', faults on' : ''}`,
      `requests: ${sent} sent, ${answered.length} signed, ${outcomes.length - answered.length} refused or failed, ${unanswered} unanswered`,
      `throughput: ${(answered.length / elapsed).toFixed(1)} signatures/s`,
      `latency of signed requests: p50 ${lat.median.toFixed(1)} ms, p95 ${lat.p95.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
      `signatures verified by ethers: ${verified.ok}, failed: ${verified.bad}`,
      `audit logs: signed messages answered but not audited: ${missing}; messages signed more than once: ${twice}; refused or failed for the client but signed: ${signedButRefused}`,
      `balancer: requests sent on to the other copy after a refused connection: ${lb.retried()}`,
      ...[...kinds].map(([k, n]) => `  error x${n}: ${k}`),
      ...(events.length ? ['faults:', ...events.map((e) => `  ${e}`)] : []),
      ...(values.faults ? ['outcomes per 2 s window (signed/failed):', `  ${windows(outcomes, elapsed)}`] : []),
    ];
    process.stdout.write(out.join('\n') + '\n');
    return verified.bad + missing + twice + unanswered > 0 ? 1 : 0;
  } finally {
    lb?.server.close();
    await cluster?.stop().catch(() => {});
    await dropSchemas(`${prefix}_`).catch((e: Error) => progress(`could not drop schemas: ${e.message}`));
    await rm(dataDir, { recursive: true, force: true });
    await rm(secretsDirOf(dataDir), { recursive: true, force: true });
  }
}

function windows(outcomes: Outcome[], elapsed: number): string {
  const cells: string[] = [];
  for (let t = 0; t < elapsed * 1000; t += 2000) {
    const w = outcomes.filter((o) => o.at >= t && o.at < t + 2000);
    cells.push(`${t / 1000}s ${w.filter((o) => o.ok).length}/${w.filter((o) => !o.ok).length}`);
  }
  return cells.join(', ');
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`load failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
