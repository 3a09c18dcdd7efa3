/**
 * Logging for crio-ts. Messages are constant lower-case event names; identifiers travel in
 * fields with fixed names so operators can filter on them.
 *
 * Lines are written as CRI-O (logrus) writes them, so journald readers and existing greps keep
 * working: `--log-format text` (the default) gives `time="…" level=info msg="…" key=value`, and
 * `json` one object per line with `time`, `level`, `msg` and the fields.
 *
 * Written here rather than with winston: the daemon needs two fixed formats, a level and a
 * filter that change at run time, and one synchronous write per line. winston brought ~80
 * modules (logform, readable-stream, async, colors …) for that: measured, the idle daemon's
 * settled RSS went from 63.3 to 62.3 MiB without it, and node + grpc-js + the logger from 54.6
 * to 50.3 MiB (medians of 3, bench/idle-rss.ts and nodeFloor in bench/proc-memory.ts).
 */

/** Field names used across the code base. */
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

/** What code logs through; fakes are easy in tests. */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Log levels crio.conf accepts (logrus's names). */
export const LOG_LEVELS = ['fatal', 'panic', 'error', 'warn', 'warning', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `--log-format`: CRI-O's two formats. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

type Severity = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<Severity, number> = { error: 0, warn: 1, info: 2, debug: 3 };
/** logrus prints WarnLevel as "warning". */
const LEVEL_NAME: Record<Severity, string> = { error: 'error', warn: 'warning', info: 'info', debug: 'debug' };

function threshold(level: LogLevel): number {
  switch (level) {
    case 'fatal':
    case 'panic':
    case 'error':
      return RANK.error;
    case 'warn':
    case 'warning':
      return RANK.warn;
    case 'info':
      return RANK.info;
    case 'debug':
    case 'trace':
      return RANK.debug;
  }
}

export interface LoggerOptions {
  level: LogLevel;
  /** `text` (default, logrus's shape) or `json`. */
  format?: LogFormat;
  /** CRI-O `log_filter`: only lines whose message and fields match are written ('' = all). */
  filter?: string;
  /** Where lines go (default: stderr, so stdout stays free for command output). */
  write?: (line: string) => void;
}

/** The root logger plus what SIGHUP may change. */
export interface RootLogger extends Logger {
  setLevel(level: LogLevel): void;
  /** Throws (SyntaxError) for a pattern that does not compile, keeping the old filter. */
  setFilter(filter: string): void;
}

/** Compiles a log_filter; throws a message naming the pattern when it is not a valid regular expression. */
export function compileLogFilter(filter: string): RegExp | undefined {
  if (filter === '') return undefined;
  try {
    return new RegExp(filter);
  } catch (err) {
    throw new Error(`log_filter ${JSON.stringify(filter)} does not compile: ${(err as Error).message}`);
  }
}

/** Creates the root logger. */
export function createLogger(options: LoggerOptions): RootLogger {
  const state = {
    max: threshold(options.level),
    filter: compileLogFilter(options.filter ?? ''),
  };
  const format = options.format ?? 'text';
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const emit = (severity: Severity, message: string, bindings: LogFields | undefined, fields: LogFields | undefined): void => {
    if (RANK[severity] > state.max) return;
    try {
      const line = render(severity, message, bindings, fields);
      if (line !== undefined) write(line);
    } catch {
      // Logging must never fail the operation that logs (a throw here would leave an RPC unanswered).
    }
  };
  /** The line to write, or undefined when log_filter drops it. */
  const render = (severity: Severity, message: string, bindings: LogFields | undefined, fields: LogFields | undefined): string | undefined => {
    const all = bindings && fields ? { ...bindings, ...fields } : (fields ?? bindings ?? {});
    // As CRI-O's filter hook: debug messages never show byte arrays.
    const msg = severity === 'debug' ? message.replace(/\[[\d\s]+\]/g, '[FILTERED]') : message;
    const body = format === 'text' || state.filter ? textBody(msg, all) : '';
    if (state.filter && !state.filter.test(body)) return undefined;
    const time = timestamp(new Date());
    return format === 'json' ? jsonLine(time, LEVEL_NAME[severity], msg, all) : `time="${time}" level=${LEVEL_NAME[severity]} ${body}\n`;
  };
  const make = (bindings: LogFields | undefined): Logger => ({
    error: (m, f) => emit('error', m, bindings, f),
    warn: (m, f) => emit('warn', m, bindings, f),
    info: (m, f) => emit('info', m, bindings, f),
    debug: (m, f) => emit('debug', m, bindings, f),
    child: (f) => make(bindings ? { ...bindings, ...f } : f),
  });
  return {
    ...make(undefined),
    setLevel: (level) => {
      state.max = threshold(level);
    },
    setFilter: (filter) => {
      state.filter = compileLogFilter(filter);
    },
  };
}

/** `msg="…" key=value …` as logrus's TextFormatter writes it (fields sorted by key). */
function textBody(msg: string, fields: LogFields): string {
  let out = `msg=${quoteIfNeeded(msg)}`;
  for (const key of Object.keys(fields).sort()) {
    const value = fields[key];
    if (value === undefined) continue;
    out += ` ${key}=${quoteIfNeeded(stringify(value))}`;
  }
  return out;
}

function jsonLine(time: string, level: string, msg: string, fields: LogFields): string {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    // logrus keeps its own keys and renames a clashing field to fields.<key>.
    out[key === 'time' || key === 'level' || key === 'msg' ? `fields.${key}` : key] = value instanceof Error ? value.message : value;
  }
  return safeJson({ level, msg, time, ...out }) + '\n';
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.message;
  if (typeof value === 'object' && value !== null) return safeJson(value);
  return String(value);
}

/** JSON that never throws: bigints as decimal strings, cycles and other failures as a marker. */
function safeJson(value: object): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
  } catch (err) {
    return JSON.stringify({ unserializable: String(err) });
  }
}

/** logrus quotes a value unless every character is one of [A-Za-z0-9-._/@^+]. */
function quoteIfNeeded(s: string): string {
  return s !== '' && /^[A-Za-z0-9\-._/@^+]+$/.test(s) ? s : JSON.stringify(s);
}

/** RFC 3339 local time with milliseconds and the zone offset, as CRI-O's FullTimestamp. */
function timestamp(d: Date): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `.${pad(d.getMilliseconds(), 3)}${zone}`
  );
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
  const l = level.toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(l) ? (l as LogLevel) : 'info';
}
