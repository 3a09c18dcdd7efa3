import winston from 'winston';

/**
 * Logging for crio-ts. Messages are constant lower-case event names; identifiers travel in
 * fields with fixed names so operators can filter on them.
 */

/** Field names used across the code base (see DEVELOPERS.md). */
export interface LogFields {
  rpc?: string;
  reqId?: string;
  podSandboxId?: string;
  containerId?: string;
  image?: string;
  digest?: string;
  pid?: number;
  durationMs?: number;
  err?: string;
  [key: string]: unknown;
}

/** The subset of winston's logger crio-ts uses, so fakes are easy in tests. */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Log levels crio.conf accepts (CRI-O's names); mapped onto winston's npm levels. */
export const LOG_LEVELS = ['fatal', 'panic', 'error', 'warn', 'warning', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function winstonLevel(level: LogLevel): string {
  switch (level) {
    case 'fatal':
    case 'panic':
    case 'error':
      return 'error';
    case 'warn':
    case 'warning':
      return 'warn';
    case 'info':
      return 'info';
    case 'debug':
      return 'debug';
    case 'trace':
      return 'silly';
  }
}

export interface LoggerOptions {
  level: LogLevel;
  /** Write JSON lines (default) or a compact human form for terminals. */
  format?: 'json' | 'text';
}

/** Creates the root logger; it writes to stderr so stdout stays free for command output. */
export function createLogger(options: LoggerOptions): Logger {
  const fmt =
    options.format === 'text'
      ? winston.format.combine(
          winston.format.errors({ stack: true }),
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...rest }) => {
            const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
            return `${String(timestamp)} ${level} ${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(
          winston.format.errors({ stack: true }),
          winston.format.timestamp(),
          winston.format.json(),
        );
  return winston.createLogger({
    level: winstonLevel(options.level),
    format: fmt,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything: for pure unit tests and one-shot commands. */
export function nullLogger(): Logger {
  const l: Logger = {
    error: () => undefined,
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    child: () => l,
  };
  return l;
}

/** Narrows a validated config string to a LogLevel ('info' for anything unknown). */
export function toLogLevel(level: string): LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : 'info';
}
