import { getSystemErrorName } from 'node:util';
import type { Logger } from './log';
import { loadNativeAddon } from './native-addon';

/**
 * systemd's notify protocol (sd_notify(3)) for a `Type=notify` unit: `READY=1` once the CRI
 * socket serves, `STOPPING=1` when shutdown begins, `WATCHDOG=1` every WatchdogSec/2 while a
 * health check passes (CRI-O's internal/watchdog does the same). Messages are datagrams to the
 * unix socket in $NOTIFY_SOCKET; systemd learns the sender's PID from the socket credentials, so
 * they must come from the daemon's own process (NotifyAccess=main): a `systemd-notify` child
 * would be refused, and Node's dgram has no unix sockets: native/sd-notify.c sends the datagram
 * (it says why not node-unix-socket: +2.0 MiB of idle RSS under systemd). Loaded only under systemd.
 */

/** What Notifier needs from the environment (process.env by default). */
export interface NotifyEnv {
  NOTIFY_SOCKET?: string;
  WATCHDOG_USEC?: string;
  WATCHDOG_PID?: string;
}

/** The smallest watchdog timeout CRI-O accepts (its interval is half of it). */
const MIN_WATCHDOG_MS = 1000;

interface NativeNotify {
  /** 0, or the errno of socket/sendto. */
  send(address: Buffer, message: Buffer): number;
}

function loadNative(): NativeNotify {
  const native = loadNativeAddon<NativeNotify>('sd-notify');
  if (!native) throw new Error('build/native/sd-notify.node is missing (npm run build compiles it)');
  return native;
}

/** Sends notifications to systemd; a no-op when NOTIFY_SOCKET is unset (not started by systemd). */
export class Notifier {
  private native: NativeNotify | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly env: NotifyEnv = process.env,
  ) {}

  /** Whether systemd listens (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /** Sends one notification (lines of KEY=VALUE); failures are logged, never thrown. */
  async notify(state: string): Promise<void> {
    const target = this.env.NOTIFY_SOCKET;
    if (!target) return;
    // '@' names a socket in the abstract namespace (sd_notify(3)).
    const address = target.startsWith('@') ? `\0${target.slice(1)}` : target;
    try {
      this.native ??= loadNative();
      // Never blocks (MSG_DONTWAIT): a full socket queue fails the send, as in sd_notify(3).
      const errno = this.native.send(Buffer.from(address), Buffer.from(state));
      if (errno !== 0) throw new Error(`sendto ${target}: ${getSystemErrorName(-errno)}`);
      this.log.debug('systemd notified', { state: state.replace(/\n/g, ' ') });
    } catch (err) {
      this.log.warn('systemd notification failed', { state, socket: target, err: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * The watchdog interval in ms (half of WATCHDOG_USEC) when systemd asks for pings, else 0.
   * Throws when WatchdogSec is shorter than CRI-O allows.
   */
  watchdogIntervalMs(): number {
    const usec = Number(this.env.WATCHDOG_USEC ?? '');
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return 0;
    // WATCHDOG_PID names the process meant; a child that inherited the variables must stay silent.
    if (this.env.WATCHDOG_PID && Number(this.env.WATCHDOG_PID) !== process.pid) return 0;
    const ms = usec / 1000;
    if (ms <= MIN_WATCHDOG_MS) throw new Error(`watchdog timeout of ${ms} ms should be more than ${MIN_WATCHDOG_MS} ms (WatchdogSec)`);
    return ms / 2;
  }

  /** Pings the watchdog every interval while `healthy()` resolves true; logs when it does not. */
  startWatchdog(healthy: (timeoutMs: number) => Promise<boolean>): void {
    const interval = this.watchdogIntervalMs();
    if (interval === 0) {
      if (this.enabled) this.log.info('no systemd watchdog enabled');
      return;
    }
    this.log.info('systemd watchdog started', { intervalMs: interval });
    const tick = async (): Promise<void> => {
      if (await healthy(interval)) await this.notify('WATCHDOG=1');
      else this.log.error('not notifying the systemd watchdog: the CRI socket does not answer');
    };
    this.watchdog = setInterval(() => void tick(), interval);
    this.watchdog.unref();
  }

  /** Stops the watchdog (each notification opens and closes its own socket). */
  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
  }
}
