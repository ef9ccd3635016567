import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One JSON object per line (pino), for every process: `component` and, for a node, `node`
 * on every line; a request's lines carry its `req_id`. Anything that could carry a secret is
 * redacted by path before it is written (headers with credentials, keys, shares), and the
 * code never passes secrets as fields to begin with: this is the second line of defence.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'api_key',
  '*.api_key',
  'credential',
  '*.credential',
  'share',
  '*.share',
  'secret',
  '*.secret',
  'x-encrypted-key',
  'x-encrypted-session',
];

export function createLogger(component: string, fields: Record<string, string> = {}, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      base: { component, ...fields },
      level: process.env.TANDEM_LOG_LEVEL ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as pino.DestinationStream,
  );
}

/** For tests and embedded uses that want no output. */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
