/** A plain-text, column-aligned result table. */
export interface Row {
  name: string;
  n: number;
  median: number;
  p95: number;
  extra: string;
}

const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');

export function formatTable(rows: readonly Row[]): string {
  const header = ['measurement', 'n', 'median ms', 'p95 ms', 'extra'];
  const cells = rows.map((r) => [r.name, String(r.n), ms(r.median), ms(r.p95), r.extra]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  // Text columns left-aligned, numbers right-aligned, so digits line up.
  const line = (c: readonly string[]): string =>
    c
      .map((v, i) => (i === 0 || i === c.length - 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...cells.map(line)].join('\n');
}
