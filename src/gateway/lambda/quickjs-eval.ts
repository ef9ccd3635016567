import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten';

/**
 * One evaluation of untrusted JavaScript in a fresh QuickJS runtime and context (nothing
 * survives from one evaluation to the next), synchronously, inside whatever thread calls
 * it (the sandbox worker). The context gets no host function at all: no fetch, timers,
 * require, process or module loader, so `import()` rejects. `console` is a pure-JS no-op
 * so Deno-style code that logs still runs.
 *
 * Data crosses as text only: the job (source, input values, limits) is one JSON string
 * that a fixed bootstrap script parses inside the VM, and the result comes back as the
 * JSON text of `{ v: result }`. No input is ever concatenated into code.
 *
 * Limits: QuickJS's memory limit and stack limit, and a deadline checked by the
 * interrupt handler. The handler only runs between bytecodes, so a long native builtin
 * (say `fill` on a huge sparse array) can overrun it; the host's hard kill of the worker
 * covers that case (see sandbox.ts).
 */

export interface SandboxJob {
  /** `body`: an async function body (`return true`); `expression`: evaluated for its value. */
  mode: 'body' | 'expression';
  source: string;
  /** Globals to define before the code runs, JSON values only. */
  globals: Record<string, unknown>;
  timeoutMs: number;
  memoryBytes: number;
  stackBytes: number;
  maxOutputChars: number;
}

export type SandboxOutcome =
  /** `wrapped` is the JSON text of `{ v: value }` (`{}` when the value was undefined). */
  | { ok: true; wrapped: string }
  /** `fatal`: the QuickJS module itself may be damaged; the worker must be replaced. */
  | { ok: false; kind: 'timeout' | 'memory' | 'error'; message: string; fatal: boolean };

/*
 * Fixed text: the only code besides the user's own. It captures the intrinsics it needs
 * before user code can replace them, defines the globals from the parsed job and runs
 * the source through the Function constructor (body) or indirect eval (expression).
 */
const BOOTSTRAP = `(function () {
  "use strict";
  var g = globalThis;
  var job = JSON.parse(g.__tandem_job);
  delete g.__tandem_job;
  var stringify = JSON.stringify, then = Promise.prototype.then, P = Promise, resolve = Promise.resolve;
  var names = Object.keys(job.globals);
  for (var i = 0; i < names.length; i++) g[names[i]] = job.globals[names[i]];
  var noop = function () {};
  g.console = { log: noop, info: noop, warn: noop, error: noop, debug: noop };
  var run;
  if (job.mode === "body") {
    var AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
    run = AsyncFunction(job.source)();
  } else {
    run = resolve.call(P, (0, eval)(job.source));
  }
  return then.call(run, function (v) { return stringify({ v: v }); });
})()`;

const MAX_MESSAGE_CHARS = 300;

export function evaluateInQuickJS(module: QuickJSWASMModule, job: SandboxJob): SandboxOutcome {
  let runtime: QuickJSRuntime | undefined;
  let context: QuickJSContext | undefined;
  let interrupted = false;
  let outcome: SandboxOutcome;
  try {
    runtime = module.newRuntime();
    runtime.setMemoryLimit(job.memoryBytes);
    runtime.setMaxStackSize(job.stackBytes);
    context = runtime.newContext();
    // The clock starts once the runtime exists: only the job's own work counts against it.
    const deadline = Date.now() + job.timeoutMs;
    runtime.setInterruptHandler(() => {
      if (Date.now() > deadline) interrupted = true;
      return interrupted;
    });
    outcome = run(runtime, context, job, () => interrupted);
  } catch (e) {
    // A throw from the host side (not a JS exception inside QuickJS): the WASM module
    // aborted or the thread's own stack overflowed mid-call. Its state is unknown now.
    const hostStack = e instanceof RangeError;
    outcome = { ok: false, kind: hostStack ? 'memory' : 'error', message: hostStack ? 'stack overflow' : 'the sandbox failed while running the code', fatal: true };
  }
  try {
    context?.dispose();
    runtime?.dispose();
  } catch {
    // Disposal asserts that nothing leaked; if it fails the module is suspect.
    if (outcome.ok || !outcome.fatal) outcome = { ...outcome, fatal: true } as SandboxOutcome;
  }
  return outcome;
}

function run(runtime: QuickJSRuntime, ctx: QuickJSContext, job: SandboxJob, wasInterrupted: () => boolean): SandboxOutcome {
  const jobText = ctx.newString(JSON.stringify({ mode: job.mode, source: job.source, globals: job.globals }));
  ctx.setProp(ctx.global, '__tandem_job', jobText);
  jobText.dispose();

  const started = ctx.evalCode(BOOTSTRAP, 'lambda.js');
  if (started.error) return failure(ctx, started.error, wasInterrupted);
  const promise = started.value;
  try {
    for (;;) {
      const state = ctx.getPromiseState(promise);
      if (state.type === 'fulfilled') {
        const value = state.value;
        try {
          return output(ctx, value, job.maxOutputChars);
        } finally {
          if (!state.notAPromise) value.dispose();
        }
      }
      if (state.type === 'rejected') return failure(ctx, state.error, wasInterrupted);
      const jobs = runtime.executePendingJobs();
      if (jobs.error) return failure(ctx, jobs.error, wasInterrupted);
      if (jobs.value === 0) {
        return { ok: false, kind: 'error', message: 'the code did not finish: it awaits something that never settles', fatal: false };
      }
    }
  } finally {
    promise.dispose();
  }
}

function output(ctx: QuickJSContext, value: QuickJSHandle, maxChars: number): SandboxOutcome {
  if (ctx.typeof(value) !== 'string') return { ok: false, kind: 'error', message: 'the code replaced the sandbox intrinsics', fatal: false };
  const length = ctx.getProp(value, 'length');
  const chars = ctx.getNumber(length);
  length.dispose();
  if (chars > maxChars) return { ok: false, kind: 'error', message: `the result is larger than ${maxChars} characters as JSON`, fatal: false };
  return { ok: true, wrapped: ctx.getString(value) };
}

/**
 * Turns a thrown QuickJS value into an outcome; disposes the handle. Reading it may run the
 * code's own getters, still under the interrupt handler, so the deadline is consulted after.
 */
function failure(ctx: QuickJSContext, error: QuickJSHandle, wasInterrupted: () => boolean): SandboxOutcome {
  let text: string;
  try {
    const dumped: unknown = ctx.dump(error);
    if (typeof dumped === 'object' && dumped !== null) {
      const { name, message } = dumped as { name?: unknown; message?: unknown };
      text = typeof message === 'string' ? `${typeof name === 'string' ? name : 'Error'}: ${message}` : 'uncaught object';
    } else {
      text = `uncaught ${JSON.stringify(dumped) ?? String(dumped)}`;
    }
  } catch {
    text = 'the thrown value could not be read';
  } finally {
    error.dispose();
  }
  if (wasInterrupted()) return { ok: false, kind: 'timeout', message: 'the code ran past its deadline', fatal: false };
  if (/^InternalError: (out of memory|stack overflow|string too long)/.test(text) || /^RangeError: (Maximum call stack|stack overflow)/.test(text)) {
    return { ok: false, kind: 'memory', message: text.replace(/^\w+: /, ''), fatal: false };
  }
  return { ok: false, kind: 'error', message: text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}...` : text, fatal: false };
}
