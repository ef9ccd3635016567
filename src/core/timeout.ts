/**
 * `p`, or a rejection after `ms` (`message`, by default "timed out after <ms> ms"). The timer
 * is cleared either way; `p` itself is not cancelled, so what it does may still finish.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, message = `timed out after ${ms} ms`): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** How long a health probe's database query may take before the store counts as unavailable. */
export const STORAGE_PROBE_TIMEOUT_MS = 2000;
