#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2:${GLIBC_TUNABLES} node --no-icu-timezone-data --expose-gc
// The shebang starts `crio` (npm's bin link, /usr/local/bin/crio) with the daemon's malloc tunables
// (lib/server/launch-env.ts); glibc reads them only at exec, and an operator's own come last and win.
// The node flags after `node` are DAEMON_NODE_ARGS (launch-env.ts): V8 reads them only at start.
// First: V8 heap settings must hold before the daemon's modules are loaded (see there).
import '../lib/server/v8-flags';
import { parseArgs, usage } from '../lib/config/flags';
import { loadConfig } from '../lib/config/load';
import { renderConfig } from '../lib/config/render';
import { asError } from '../lib/errors';
import { createLogger, LOG_FORMATS, toLogLevel, type LogFormat } from '../lib/log';
import { startDaemon } from '../lib/server/daemon';
import { CRIO_TS_VERSION } from '../lib/server/runtime-version';
import { runStatusCommand } from '../lib/server/status-command';
import { startMemoryUpkeep } from '../lib/memory-upkeep';
import { Notifier } from '../lib/sd-notify';
import { watchSighup, watchdogHealth } from '../lib/server/signals';

/**
 * The `crio` command: the CRI daemon by default, plus `crio config` (effective config as TOML),
 * `crio version`, `crio check` (validate config and exit), `crio wipe` and `crio status` (query a
 * running daemon's inspect API, as CRI-O's crio-status). Composition happens here and in
 * lib/server/daemon.ts only.
 */
async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.command === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (args.command === 'status') {
    process.stdout.write(await runStatusCommand(args.rest ?? []));
    return 0;
  }
  if (args.command === 'version') {
    process.stdout.write(`crio-ts version ${CRIO_TS_VERSION}\nCRI API version: v1\nNode.js: ${process.version}\n`);
    return 0;
  }
  const loaded = await loadConfig({ configFile: args.configFile, configDir: args.configDir, overrides: args.overrides });
  const log = createLogger({ level: toLogLevel(loaded.config.runtime.log_level), format: logFormat(args.logFormat), filter: loaded.config.runtime.log_filter });
  for (const w of loaded.warnings) log.warn('config warning', { warning: w });
  if (args.command === 'config') {
    process.stdout.write(renderConfig(loaded.config));
    return 0;
  }
  if (args.command === 'check') {
    process.stdout.write(`configuration OK (${loaded.sources.join(', ') || 'built-in defaults'})\n`);
    return 0;
  }
  if (args.command === 'wipe') {
    const { wipe } = require('../lib/server/wipe') as typeof import('../lib/server/wipe');
    await wipe(loaded.config, args.force ?? false, log);
    return 0;
  }
  log.info('configuration loaded', { sources: loaded.sources });
  // A stray rejected promise must not take the node's runtime down: log it loudly and go on.
  // State is persisted before every in-memory change, so nothing depends on the lost promise.
  process.on('unhandledRejection', (reason: unknown) => {
    log.error('unhandled promise rejection', { err: asError(reason).message, stack: asError(reason).stack });
  });
  const daemon = await startDaemon(loaded.config, log);
  // Garbage collected after growth and heap pages freed back to the kernel every 10 s (issue 17: RSS after pulls and polling).
  startMemoryUpkeep();
  // SIGHUP reloads what CRI-O reloads (lib/server/reload.ts); an invalid new file changes nothing.
  watchSighup(daemon, { configFile: args.configFile, configDir: args.configDir, overrides: args.overrides }, log);
  const systemd = new Notifier(log);
  await systemd.notify('READY=1');
  systemd.startWatchdog(watchdogHealth(loaded.config.api.listen));
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info('shutting down', { signal });
      void systemd.notify('STOPPING=1');
      daemon.close().then(resolve, (err: unknown) => {
        log.error('shutdown failed', { err: asError(err).message });
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

/** --log-format, else $CONTAINER_LOG_FORMAT (CRI-O's variable), else text. */
function logFormat(flag: string | undefined): LogFormat {
  const value = flag ?? process.env.CONTAINER_LOG_FORMAT ?? 'text';
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new Error(`unknown log-format "${value}"; use text or json`);
  return value as LogFormat;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`crio: ${asError(err).message}\n`);
    process.exit(1);
  },
);
