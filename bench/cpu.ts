import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time per process, to see where a cluster signature's time goes without touching
 * the nodes: sample each child's user+system time (Linux /proc) before and after a phase.
 * Elsewhere the sampler reports nothing and the bench simply skips the breakdown.
 */
export interface Proc {
  name: string;
  pid: number | undefined;
}

export type CpuSample = Map<string, number>;

const clockTicks = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // the usual USER_HZ on Linux
  }
})();

/** user+system CPU ms of `pid`, or undefined where /proc is not available. */
function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is parenthesised and may hold spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

/** CPU ms so far of each process, plus this one (the bench client) as "bench". */
export function sampleCpu(procs: readonly Proc[]): CpuSample | undefined {
  const out: CpuSample = new Map();
  for (const p of procs) {
    const ms = p.pid === undefined ? undefined : procCpuMs(p.pid);
    if (ms === undefined) return undefined;
    out.set(p.name, ms);
  }
  const self = process.cpuUsage();
  out.set('bench', (self.user + self.system) / 1000);
  return out;
}

/** "node-1 31.2, node-2 9.8, ..." CPU ms per operation (a `unit`) between two samples, plus total utilisation. */
export function describeCpu(before: CpuSample | undefined, after: CpuSample | undefined, ops: number, wallMs: number, unit = 'sign'): string {
  if (!before || !after || ops === 0) return 'cpu breakdown unavailable';
  let total = 0;
  const parts: string[] = [];
  for (const [name, end] of after) {
    const used = end - (before.get(name) ?? end);
    total += used;
    parts.push(`${name} ${(used / ops).toFixed(1)}`);
  }
  return `cpu ms/${unit}: ${parts.join(', ')} = ${(total / ops).toFixed(1)}; busy ${((total / wallMs) * 100).toFixed(0)}% of one core`;
}
