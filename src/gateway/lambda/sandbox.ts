import { Worker } from 'node:worker_threads';
import { LambdaError } from './errors.js';
import { copyJson, type JsonValue } from './json.js';
import type { SandboxJob, SandboxOutcome } from './quickjs-eval.js';

/**
 * Runs code conditions (and `actions.check`) in QuickJS, in one long-lived worker thread
 * that loads the WASM module once; each evaluation gets a fresh runtime and context there.
 *
 * Two layers of limits:
 * 1. Inside QuickJS: a memory limit, a stack limit and a deadline checked by the interrupt
 *    handler. These stop ordinary runaways (loops, allocation bombs, deep recursion) with
 *    a clean error and leave the worker usable.
 * 2. Outside: a hard timer of deadline + HARD_KILL_GRACE_MS, started when the worker reports
 *    that it began the job (on a busy machine the message itself can wait). QuickJS cannot
 *    interrupt a native builtin mid-call, nor GC thrashing near the memory limit (we
 *    measured allocation loops of `new Array(1e5).fill(x)` and `new Uint8Array(1 << 20)`
 *    running 7-11 s with the handler consulted once), and a host-stack overflow or WASM
 *    abort leaves the module in an unknown state. In those cases the worker is terminated
 *    and the next evaluation starts a new one (~150-400 ms).
 *
 * Evaluations are serialised (one at a time, at most MAX_WAITING waiting) so the sandbox's
 * memory is bounded by one runtime's limit. The worker gets an empty environment (no
 * secrets from process.env), its own V8 heap and stack limits, and is unref'd so an idle
 * sandbox never keeps the process alive.
 */

export interface SandboxLimits {
  /** Wall-clock deadline for one evaluation. */
  timeoutMs: number;
  /** QuickJS heap limit. */
  memoryBytes: number;
  /** QuickJS stack limit. Kept well below the worker thread's own stack (see WORKER_STACK_MB). */
  stackBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: Readonly<SandboxLimits> = {
  timeoutMs: 250,
  memoryBytes: 16 * 1024 * 1024,
  stackBytes: 256 * 1024,
};

export interface SandboxRequest {
  mode: 'body' | 'expression';
  source: string;
  /** Defined as globals before the code runs; names must be identifiers. */
  globals: Record<string, JsonValue>;
}

const HARD_KILL_GRACE_MS = 500;
/** How long a job may wait for the worker thread to pick it up. */
const PICKUP_TIMEOUT_MS = 5000;
const STARTUP_TIMEOUT_MS = 15_000;
const MAX_WAITING = 32;
const MAX_OUTPUT_CHARS = 64 * 1024;
const MAX_INPUT_BYTES = 1024 * 1024;
/**
 * Each byte of QuickJS stack costs ~2.6 bytes of thread stack (a 384 KiB QuickJS limit
 * overflowed Node's ~1 MiB default first, aborting the module); 8 MiB covers the 1 MiB
 * maximum stackBytes with room to spare.
 */
const WORKER_STACK_MB = 8;
const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

let ready: Promise<Worker> | undefined;
let current: Worker | undefined;
let waiting = 0;
let tail: Promise<unknown> = Promise.resolve();
let nextId = 0;

/**
 * Evaluates `request.source` and returns its result as a JSON value (`undefined` when it
 * returned nothing). Throws LambdaError: code_error, code_timeout, code_memory or
 * sandbox_unavailable.
 */
export async function runInSandbox(request: SandboxRequest, limits: Partial<SandboxLimits> = {}): Promise<JsonValue | undefined> {
  const lim = checkLimits({ ...DEFAULT_SANDBOX_LIMITS, ...limits });
  for (const name of Object.keys(request.globals)) if (!IDENT_RE.test(name)) throw new TypeError(`sandbox global ${name} is not an identifier`);
  const job: SandboxJob = { mode: request.mode, source: request.source, globals: request.globals, ...lim, maxOutputChars: MAX_OUTPUT_CHARS };
  if (Buffer.byteLength(JSON.stringify(job)) > MAX_INPUT_BYTES) throw new LambdaError('invalid_input', `the code and its inputs exceed ${MAX_INPUT_BYTES} bytes`);

  if (waiting >= MAX_WAITING) throw new LambdaError('sandbox_unavailable', 'too many lambda evaluations are waiting; try again later');
  waiting += 1;
  const run = tail.then(() => dispatch(job));
  tail = run.catch(() => undefined);
  let outcome: SandboxOutcome;
  try {
    outcome = await run;
  } finally {
    waiting -= 1;
  }
  return interpret(outcome, lim);
}

/** Stops the worker (tests, shutdown). A later evaluation starts a new one. */
export async function shutdownSandbox(): Promise<void> {
  const w = current;
  current = undefined;
  ready = undefined;
  if (w) await w.terminate();
}

function checkLimits(l: SandboxLimits): SandboxLimits {
  const ok = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
  if (!ok(l.timeoutMs, 1, 10_000)) throw new TypeError('sandbox timeoutMs must be 1..10000');
  if (!ok(l.memoryBytes, 1024 * 1024, 256 * 1024 * 1024)) throw new TypeError('sandbox memoryBytes must be 1 MiB..256 MiB');
  if (!ok(l.stackBytes, 16 * 1024, 1024 * 1024)) throw new TypeError('sandbox stackBytes must be 16 KiB..1 MiB');
  return l;
}

function interpret(outcome: SandboxOutcome, lim: SandboxLimits): JsonValue | undefined {
  if (!outcome.ok) {
    if (outcome.kind === 'timeout') throw new LambdaError('code_timeout', `the code ran past its ${lim.timeoutMs} ms deadline`);
    if (outcome.kind === 'memory') throw new LambdaError('code_memory', `the code hit the sandbox's limits (${outcome.message})`);
    throw new LambdaError('code_error', outcome.message);
  }
  let wrapped: unknown;
  try {
    wrapped = JSON.parse(outcome.wrapped);
  } catch {
    throw new LambdaError('code_error', 'the code returned something that is not JSON');
  }
  if (typeof wrapped !== 'object' || wrapped === null || !Object.hasOwn(wrapped, 'v')) return undefined;
  return copyJson((wrapped as { v: unknown }).v, { maxBytes: 4 * MAX_OUTPUT_CHARS, maxDepth: 32 }, 'the code result', 'code_error');
}

function dispatch(job: SandboxJob): Promise<SandboxOutcome> {
  return startWorker().then(
    (w) =>
      new Promise<SandboxOutcome>((resolve, reject) => {
        const id = ++nextId;
        let timer = setTimeout(() => {
          done();
          kill(w);
          reject(new LambdaError('sandbox_unavailable', 'the sandbox is overloaded; try again later'));
        }, PICKUP_TIMEOUT_MS);
        const onMessage = (m: { id?: number; started?: boolean; outcome?: SandboxOutcome }): void => {
          if (m.id !== id) return;
          if (m.started === true) {
            clearTimeout(timer);
            timer = setTimeout(() => {
              done();
              kill(w);
              resolve({ ok: false, kind: 'timeout', message: 'stopped by the host', fatal: true });
            }, job.timeoutMs + HARD_KILL_GRACE_MS);
            return;
          }
          if (m.outcome === undefined) return;
          done();
          if (!m.outcome.ok && m.outcome.fatal) kill(w);
          resolve(m.outcome);
        };
        const onGone = (): void => {
          done();
          kill(w);
          reject(new LambdaError('sandbox_unavailable', 'the sandbox stopped while running the code'));
        };
        const done = (): void => {
          clearTimeout(timer);
          w.off('message', onMessage);
          w.off('error', onGone);
          w.off('exit', onGone);
        };
        w.on('message', onMessage);
        w.on('error', onGone);
        w.on('exit', onGone);
        w.postMessage({ id, job });
      }),
  );
}

function kill(w: Worker): void {
  if (current === w) {
    current = undefined;
    ready = undefined;
  }
  void w.terminate();
}

function startWorker(): Promise<Worker> {
  if (ready) return ready;
  const w = new Worker(new URL('./sandbox-worker.js', import.meta.url), {
    env: {},
    argv: [],
    execArgv: [],
    stdin: false,
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16, stackSizeMb: WORKER_STACK_MB },
  });
  w.unref();
  current = w;
  w.on('error', () => undefined); // reported to the waiting evaluation by its own listener
  w.once('exit', () => {
    if (current === w) kill(w);
  });
  ready = new Promise<Worker>((resolve, reject) => {
    const timer = setTimeout(() => fail(new LambdaError('sandbox_unavailable', 'the sandbox did not start in time')), STARTUP_TIMEOUT_MS);
    const onMessage = (m: { ready?: boolean }): void => {
      if (m.ready !== true) return;
      cleanup();
      resolve(w);
    };
    const fail = (e: unknown): void => {
      cleanup();
      kill(w);
      reject(e instanceof LambdaError ? e : new LambdaError('sandbox_unavailable', 'the sandbox failed to start'));
    };
    const onExit = (): void => fail(undefined);
    const cleanup = (): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', fail);
      w.off('exit', onExit);
    };
    w.on('message', onMessage);
    w.on('error', fail);
    w.on('exit', onExit);
  });
  return ready;
}
