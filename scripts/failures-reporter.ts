/**
 * A second reporter for `npm test`: after the run, the failed tests (file, then the path of
 * names from the suite down) and their first error line, on stderr. The TAP on stdout is
 * thousands of lines; a CI log that keeps only its head and tail would otherwise lose which
 * test failed. TODO tests that fail are not failures and are not listed.
 */
interface FailEvent {
  name: string;
  nesting: number;
  file?: string;
  todo?: string | boolean;
  details: { error?: { message?: string; failureType?: string; cause?: { message?: string } } };
}

interface ReporterEvent {
  type: string;
  data: FailEvent & { name: string; nesting: number };
}

/** The error's first line, and fast-check's "Got …" line (the error a property threw). */
function summary(e: FailEvent['details']['error']): string {
  const lines = (e?.cause?.message ?? e?.message ?? '').split('\n');
  return [lines[0]!, ...lines.filter((l) => l.startsWith('Got '))].map((l) => l.slice(0, 300)).join(' / ');
}

export default async function* failures(source: AsyncIterable<ReporterEvent>): AsyncGenerator<string> {
  // Names of the enclosing suites, by nesting, as the events arrive (a test's start comes before its children's).
  const path: string[] = [];
  const failed: string[] = [];
  for await (const { type, data } of source) {
    if (type === 'test:start') path.splice(data.nesting, path.length, data.name);
    if (type !== 'test:fail' || (data.todo !== undefined && data.todo !== false)) continue;
    // A suite fails when a test in it does; the test itself is listed.
    if (data.details.error?.failureType === 'subtestsFailed') continue;
    const names = [...path.slice(0, data.nesting), data.name].join(' > ');
    failed.push(`  ${data.file ?? '?'}: ${names}\n      ${summary(data.details.error)}\n`);
  }
  yield failed.length === 0 ? '\nno test failed\n' : `\n${failed.length} failed:\n${failed.join('')}`;
}
