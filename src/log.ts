import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import { maskText, secretsToMask } from './core/spec-hash.js';

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

/**
 * `log`, writing `***` for every value in `secrets` (the host-local values
 * of the services a pass is about) wherever it occurs: in the message and
 * in every string of the fields, at any depth, errors included. Paths
 * redacted by `createLog` cannot catch a secret quoted inside another
 * string (a failed container's last log lines, an engine's refusal).
 */
export function withSecretsMasked(log: Log, secrets: readonly string[]): Log {
  const values = secretsToMask(secrets);
  if (values.length === 0) return log;
  const mask = (value: unknown): unknown => {
    if (typeof value === 'string') return maskText(value, values);
    if (value instanceof Error) {
      const copy = new Error(maskText(value.message, values));
      copy.name = value.name;
      copy.stack = value.stack === undefined ? undefined : maskText(value.stack, values);
      return Object.assign(copy, mask({ ...value }) as object);
    }
    if (Array.isArray(value)) return value.map(mask);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v)]));
    }
    return value;
  };
  const level =
    (write: (...args: unknown[]) => void) =>
    (...args: unknown[]) =>
      write(...args.map(mask));
  return {
    debug: level(log.debug.bind(log) as (...args: unknown[]) => void),
    info: level(log.info.bind(log) as (...args: unknown[]) => void),
    warn: level(log.warn.bind(log) as (...args: unknown[]) => void),
    error: level(log.error.bind(log) as (...args: unknown[]) => void),
  } as unknown as Log;
}
