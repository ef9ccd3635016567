import { spawn } from 'node:child_process';

/**
 * A KEK from a command (a KMS or secret manager CLI): run with `/bin/sh -c`, its stdout,
 * trimmed, must be 64 hex characters. Its stderr goes to ours, so the operator sees the
 * CLI's own errors; its stdout is never echoed anywhere. A command that fails, prints
 * something else or outlives `timeoutMs` is an error that says which.
 */
const MAX_OUTPUT = 4096;
const HEX_RE = /^\s*([0-9a-fA-F]{64})\s*$/;

export async function runKekCommand(command: string, what: string, timeoutMs: number): Promise<Buffer> {
  const child = spawn('/bin/sh', ['-c', command], {
    env: withoutSecrets(process.env),
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group, so a timeout kills what the shell started too (a CLI still holding stdout).
    detached: true,
  });
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  child.stdout.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_OUTPUT) {
      overflow = true;
      kill();
    } else chunks.push(chunk);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  const out = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  try {
    if (exit.error) throw new Error(`${what} could not be run: ${exit.error.message}`);
    if (timedOut) throw new Error(`${what} did not finish within ${timeoutMs} ms`);
    if (overflow) throw new Error(`${what} printed more than ${MAX_OUTPUT} bytes; it must print the KEK as 64 hex characters`);
    if (exit.code !== 0) throw new Error(`${what} failed (${exit.signal ?? `exit code ${exit.code}`}); its stderr is above`);
    const text = out.toString('latin1');
    const m = HEX_RE.exec(text);
    if (!m) throw new Error(`${what} must print the KEK as 64 hex characters (and nothing else)`);
    return Buffer.from(m[1]!, 'hex');
  } finally {
    out.fill(0);
  }
}

/** The command needs no secret of ours: it gets our environment without the admin key and KEKs. */
function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !isSecretEnvName(k)));
}

/** TANDEM_ADMIN_KEY and every KEK variable of the nodes and the gateway. */
export function isSecretEnvName(name: string): boolean {
  return name === 'TANDEM_ADMIN_KEY' || /^TANDEM_(GATEWAY_)?KEK(_|$)/.test(name);
}
