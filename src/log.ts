import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

/**
 * The logging surface the rest of gitdock uses: pino's, so a pino logger
 * fits, and tests can pass a silent one. Constant messages, data in fields.
 */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface CreateLogOptions {
  /** `json` for daemons and pipes; `pretty` for a person at a terminal. */
  format: 'json' | 'pretty';
  level?: string;
  /** Where lines go: the CLI's stderr, the agent's stdout. */
  stream: { write(text: string): unknown };
  color?: boolean;
}

/**
 * Creates the process logger. Environment values are redacted here, when
 * the logger is made, so no call site can leak one.
 */
export function createLog(options: CreateLogOptions): Log {
  const base = {
    level: options.level ?? process.env.GITDOCK_LOG_LEVEL ?? 'info',
    redact: {
      paths: [
        'environment',
        '*.environment',
        'spec.environment',
        '*.spec.environment',
        'env',
        '*.env',
      ],
      censor: '[redacted]',
    },
  };
  if (options.format === 'pretty') {
    // Loaded only for a terminal: pino-pretty is the heaviest module of a CLI run.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      base,
      pretty({
        destination: options.stream as NodeJS.WritableStream,
        colorize: options.color ?? false,
        ignore: 'pid,hostname',
        translateTime: 'HH:MM:ss',
        sync: true,
      }),
    );
  }
  return pino(base, options.stream as { write(msg: string): void });
}

/** A logger that drops everything, for tests and `--quiet`. */
export const silentLog: Log = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
} as unknown as Log;
