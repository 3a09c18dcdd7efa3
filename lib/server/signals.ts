import net from 'node:net';
import { loadConfig, type LoadConfigOptions } from '../config/load';
import { asError } from '../errors';
import { toLogLevel, type RootLogger } from '../log';
import type { Daemon } from './daemon';

/**
 * SIGHUP → reload: the files are read again exactly as at start (same --config, --config-dir
 * and flags, which still win), the daemon applies the reloadable keys (lib/server/reload.ts),
 * then the logger takes the new log_level and log_filter. Any failure — a TOML error, a bad
 * value, an unreadable seccomp profile — is logged and the whole old configuration stays.
 * Signals arriving during a reload queue behind it.
 */
export function watchSighup(daemon: Daemon, options: LoadConfigOptions, log: RootLogger): void {
  let queue: Promise<void> = Promise.resolve();
  process.on('SIGHUP', () => {
    queue = queue.then(() => reloadOnce(daemon, options, log));
  });
}

async function reloadOnce(daemon: Daemon, options: LoadConfigOptions, log: RootLogger): Promise<void> {
  log.info('reloading configuration');
  try {
    const loaded = await loadConfig(options);
    for (const w of loaded.warnings) log.warn('config warning', { warning: w });
    const result = await daemon.reload(loaded.config);
    log.setLevel(toLogLevel(loaded.config.runtime.log_level));
    log.setFilter(loaded.config.runtime.log_filter);
    if (result.needRestart.length > 0) log.warn('changed settings take effect at the next start', { keys: result.needRestart.join(',') });
    log.info('configuration reloaded', { sources: loaded.sources.join(','), changed: result.applied.join(',') });
  } catch (err) {
    log.error('configuration reload failed; keeping the old configuration', { err: asError(err).message });
  }
}

/** The watchdog's health check, as CRI-O's (the CRI socket must answer): a connection within the interval. */
export function watchdogHealth(socket: string): (timeoutMs: number) => Promise<boolean> {
  return (timeoutMs) =>
    new Promise((resolve) => {
      const s = net.connect(socket);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        s.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
}

