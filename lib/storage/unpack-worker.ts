import { pipeline, Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { errnoCode, FailedPreconditionError } from '../errors';
import type { LogFields, Logger } from '../log';
import { decompressorFor } from './decompress';
import { DigestVerifier } from './digest-stream';
import { treeInventory } from './disk-usage';
import { TarSplitRecorder } from './tar-split';
import { unpackLayer } from './tar-unpack';
import { toWire, type FromWorker, type ToWorker, type WorkerDecode } from './unpack-wire';

/**
 * A layer-unpack worker thread (unpack-pool.ts runs these): unpacks one layer tar at a time into
 * a staging diff directory, recording its tar-split and inventory. File creation is mostly
 * kernel time (hundreds of µs per small file on some disks) and runs synchronously; here it
 * runs beside the daemon's event loop and beside the other layers of the pull, so a pull uses
 * every core for it, as parallel `tar -x` processes would. Given a blob (`decode`), the worker
 * also decompresses it and checks its DiffID: the daemon's thread then only receives the
 * download and hands its buffers over, where gunzip's stream stages and the second sha256
 * would otherwise keep it busier than the disk.
 */

const port = parentPort;
if (!port) throw new Error('unpack-worker.js runs only as a worker thread');

function post(m: FromWorker): void {
  port?.postMessage(m);
}

function workerLogger(fields: LogFields = {}): Logger {
  const at =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, more?: LogFields): void =>
      post({ type: 'log', level, message, fields: { ...fields, ...more } });
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (more) => workerLogger({ ...fields, ...more }) };
}

/** The tar bytes as the daemon sends them; acknowledged as the unpacker takes them, so the daemon keeps only a window in flight. */
class ChunkFeed extends Readable {
  private owed = 0;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  feed(data: Uint8Array): void {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.push(b)) post({ type: 'ack', bytes: b.length });
    else this.owed += b.length;
  }

  override _read(): void {
    if (this.owed === 0) return;
    post({ type: 'ack', bytes: this.owed });
    this.owed = 0;
  }
}

interface Job {
  feed: ChunkFeed;
  abort: AbortController;
}

let job: Job | undefined;

/** The uncompressed tar of a blob, failing at its end unless it matches the DiffID. */
function decoded(blob: Readable, d: WorkerDecode): Readable {
  const verifier = new DigestVerifier({ digest: d.diffId }, `${d.what}: uncompressed content does not match the config's diff_id`);
  pipeline(blob, decompressorFor(d.compression, d.what), verifier, () => undefined);
  return verifier;
}

/** zlib notices a corrupt stream before the DiffID check at EOF can; say which blob it was. */
function named(err: unknown, d: WorkerDecode | undefined): unknown {
  if (d && /^Z_/.test(errnoCode(err) ?? '')) return new FailedPreconditionError(`${d.what}: corrupt gzip data: ${(err as Error).message}`, { cause: err });
  return err;
}

async function run(diffDir: string, j: Job, decode: WorkerDecode | undefined): Promise<void> {
  const recorder = new TarSplitRecorder();
  try {
    const tar = decode ? decoded(j.feed, decode) : j.feed;
    const unpack = await unpackLayer(tar, diffDir, { log: workerLogger(), signal: j.abort.signal, recorder });
    const split = await recorder.result();
    const inventory = await treeInventory(diffDir);
    post({ type: 'done', result: { unpack, split, inventory } });
  } catch (err) {
    recorder.discard();
    post({ type: 'failed', error: toWire(named(err, decode)) });
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start': {
      const j: Job = { feed: new ChunkFeed(), abort: new AbortController() };
      job = j;
      void run(m.diffDir, j, m.decode).finally(() => {
        if (job === j) job = undefined;
      });
      break;
    }
    case 'chunk':
      job?.feed.feed(m.data);
      break;
    case 'end':
      job?.feed.push(null);
      break;
    case 'abort':
      job?.abort.abort(new Error('layer unpack aborted'));
      break;
  }
});
