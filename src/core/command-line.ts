import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * A program's options from its command line. A mistake there (an unknown option, a value
 * missing or given where none is taken, an argument that is not an option) is reported as one
 * line and the usage, with exit code 2: an operator who typed `--help` or a typo reads what
 * the program takes, not node's stack trace.
 */
export function commandLineOrExit<const O extends NonNullable<ParseArgsConfig['options']>>(program: string, usage: string, options: O) {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    return exitWithUsage(program, usage, e instanceof Error ? e.message : String(e));
  }
}

/** Writes `program: message` and the usage to stderr and exits with 2 (a usage error). */
export function exitWithUsage(program: string, usage: string, message: string): never {
  process.stderr.write(`${program}: ${message}\n${usage}\n`);
  process.exit(2);
}
