/** A plain-text, column-aligned result table. */
export interface Row {
  name: string;
  n: number;
  median: number;
  p95: number;
  extra: string;
}

const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');

/**
 * Columns aligned over all rows. By default the first and last columns are text
 * (left-aligned), the others numbers (right-aligned), so digits line up; `align` ('l' or
 * 'r' per column) says otherwise. A null row is an empty line.
 */
export function formatGrid(header: readonly string[], rows: readonly (readonly string[] | null)[], align?: string): string {
  const cells = rows.filter((c): c is readonly string[] => c !== null);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string =>
    widths
      .map((w, i) => {
        const v = c[i] ?? '';
        const left = align ? align[i] !== 'r' : i === 0 || i === widths.length - 1;
        return left ? v.padEnd(w) : v.padStart(w);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map((c) => (c === null ? '' : line(c)))].join('\n');
}

/** The bench's main table; a null row separates groups with an empty line. */
export function formatTable(rows: readonly (Row | null)[]): string {
  const header = ['measurement', 'n', 'median ms', 'p95 ms', 'extra'];
  return formatGrid(
    header,
    rows.map((r) => (r === null ? null : [r.name, String(r.n), ms(r.median), ms(r.p95), r.extra])),
  );
}
