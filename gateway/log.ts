/**
 * Structured JSON logs (pino). Gatehouse never logs request headers, tokens,
 * certificates or keys; the redaction below is a second line of defence for
 * fields that must never appear even if a future log line passes them.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACTED_PATHS = [
  'headers',
  '*.headers',
  'authorization',
  '*.authorization',
  'token',
  '*.token',
  'certificate',
  '*.certificate',
  'key',
  '*.key',
];

/**
 * Creates the process logger writing JSON lines to stdout (or `destination`).
 *
 * @example
 * const log = createLogger('info');
 * log.info({ port }, 'serving');
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'gatehouse' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
