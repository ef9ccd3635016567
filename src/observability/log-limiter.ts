/**
 * At most `max` lines of each kind per window; the rest are counted and summed up in one line
 * when the kind is next logged after its window. A peer (or a squatter on the relay) that
 * floods us with garbage would otherwise make us write a line per message: the log is not a
 * place an outsider may fill. Kinds are our own fixed strings, so their number is bounded.
 */
export function limitedLog(log: (msg: string) => void, opts: { max?: number; windowMs?: number; now?: () => number } = {}): (kind: string, msg: string) => void {
  const max = opts.max ?? 10;
  const windowMs = opts.windowMs ?? 10_000;
  const now = opts.now ?? (() => Date.now());
  const kinds = new Map<string, { start: number; lines: number; suppressed: number }>();
  return (kind, msg) => {
    const t = now();
    let k = kinds.get(kind);
    if (!k || t - k.start >= windowMs) {
      if (k && k.suppressed > 0) log(`${kind}: ${k.suppressed} more like this in the last ${Math.round((t - k.start) / 1000)} s, not logged`);
      k = { start: t, lines: 0, suppressed: 0 };
      kinds.set(kind, k);
    }
    if (k.lines < max) {
      k.lines += 1;
      log(msg);
    } else {
      k.suppressed += 1;
    }
  };
}
