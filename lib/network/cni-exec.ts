import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import type { OpContext } from '../context';
import { DeadlineExceededError, UnavailableError, errnoCode } from '../errors';
import { runProgram, stderrTail } from '../process';
import type { CniResult } from './cni-request';
import { quote } from '../quote';

/**
 * Running one CNI plugin binary per the CNI spec: parameters in CNI_* environment variables,
 * the network configuration on stdin, a result or an error document on stdout.
 */

/** The CNI operations crio-ts issues. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** Everything one plugin invocation needs. */
export interface CniExecRequest {
  command: CniCommand;
  /** The plugin `type`: the binary's file name. */
  pluginType: string;
  pluginDirs: readonly string[];
  containerId: string;
  /** Path of the network namespace; empty is allowed for DEL when it is already gone. */
  netns: string;
  ifName: string;
  /** CNI_ARGS (see buildCniArgs). */
  args: string;
  /** The stdin document (see buildPluginConfig). */
  config: string;
  /** Kill the plugin after this long (default 2 minutes) so a stuck plugin cannot wedge teardown. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** The first plugin dir holding an executable regular file named `type`, or undefined. */
export async function findCniPlugin(type: string, pluginDirs: readonly string[]): Promise<string | undefined> {
  if (type.includes('/') || type === '' || type === '.' || type === '..') return undefined;
  for (const dir of pluginDirs) {
    const file = path.join(dir, type);
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) continue;
      await fs.access(file, fsc.X_OK);
      return file;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') continue;
      throw err;
    }
  }
  return undefined;
}

/** A CNI error document, when stdout is one. */
function parseCniError(stdout: string): { code?: number; msg: string; details?: string } | undefined {
  try {
    const doc: unknown = JSON.parse(stdout);
    if (typeof doc !== 'object' || doc === null) return undefined;
    const rec = doc as Record<string, unknown>;
    if (typeof rec.msg !== 'string') return undefined;
    return {
      code: typeof rec.code === 'number' ? rec.code : undefined,
      msg: rec.msg,
      details: typeof rec.details === 'string' && rec.details !== '' ? rec.details : undefined,
    };
  } catch {
    return undefined;
  }
}

/** Runs the plugin; returns the parsed result for ADD/CHECK/VERSION output, undefined when there is none (DEL). */
export async function execCniPlugin(req: CniExecRequest, ctx: OpContext): Promise<CniResult | undefined> {
  const bin = await findCniPlugin(req.pluginType, req.pluginDirs);
  if (bin === undefined) {
    throw new UnavailableError(`failed to find CNI plugin ${quote(req.pluginType)} in path [${req.pluginDirs.join(' ')}]`);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: req.command,
    CNI_CONTAINERID: req.containerId,
    CNI_NETNS: req.netns,
    CNI_IFNAME: req.ifName,
    CNI_ARGS: req.args,
    CNI_PATH: req.pluginDirs.join(path.delimiter),
  };
  const what = `CNI plugin ${req.pluginType} ${req.command}`;
  let r;
  try {
    r = await runProgram(bin, [], { input: req.config, env, signal: ctx.signal, timeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  } catch (err) {
    throw new UnavailableError(`cannot run ${what} (${bin})`, { cause: err });
  }
  ctx.signal.throwIfAborted();
  if (r.timedOut) throw new DeadlineExceededError(`${what} did not finish in ${req.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`);
  const stdout = r.stdout.toString('utf8').trim();
  if (r.exitCode !== 0) {
    const e = parseCniError(stdout);
    const detail = e
      ? `${e.msg}${e.details ? ': ' + e.details : ''}${e.code !== undefined ? ` (code ${e.code})` : ''}`
      : stderrTail(r) || stdout || `exit ${r.exitCode}`;
    throw new UnavailableError(`${what} failed: ${detail}`);
  }
  if (stdout === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (err) {
    throw new UnavailableError(`${what} printed a result that is not JSON: ${stdout.slice(0, 200)}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new UnavailableError(`${what} printed a result that is not a JSON object`);
  }
  const result = doc as CniResult;
  if (result.ips !== undefined && !Array.isArray(result.ips)) throw new UnavailableError(`${what} result has 'ips' that is not a list`);
  if (result.interfaces !== undefined && !Array.isArray(result.interfaces)) {
    throw new UnavailableError(`${what} result has 'interfaces' that is not a list`);
  }
  return result;
}
