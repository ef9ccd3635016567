import { parentPort } from 'node:worker_threads';
import { newQuickJSWASMModule } from 'quickjs-emscripten';
import { evaluateInQuickJS, type SandboxJob } from './quickjs-eval.js';

/**
 * The sandbox thread: loads the QuickJS WASM module once, then evaluates one job per
 * message, each in a fresh runtime. It runs in its own worker so that the gateway's event
 * loop never waits on user code and a runaway evaluation can be killed outright.
 */
const port = parentPort;
if (port === null) throw new Error('sandbox-worker.js must run in a worker thread');

const module = await newQuickJSWASMModule();

// V8 compiles WASM functions lazily: one throwaway evaluation compiles the interpreter's hot
// paths now, so the first real lambda is not charged for it against its deadline.
evaluateInQuickJS(module, {
  mode: 'body',
  source: 'const o = JSON.parse(JSON.stringify({ a: [1, 2, 3] })); await null; return o.a.map((x) => x * 2).join()',
  globals: { params: [] },
  timeoutMs: 10_000,
  memoryBytes: 16 * 1024 * 1024,
  stackBytes: 256 * 1024,
  maxOutputChars: 1024,
});

port.on('message', (msg: { id: number; job: SandboxJob }) => {
  // The host starts its hard-kill clock on this, not on sending: under CPU pressure a
  // message can wait a long time for this thread to be scheduled.
  port.postMessage({ id: msg.id, started: true });
  const outcome = evaluateInQuickJS(module, msg.job);
  // On a fatal outcome the host terminates this thread: a damaged module runs nothing more.
  port.postMessage({ id: msg.id, outcome });
});
port.postMessage({ ready: true });
