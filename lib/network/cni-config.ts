import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, asError, errnoCode } from '../errors';
import { findCniPlugin } from './cni-exec';

/**
 * Loading the pod network from crio.conf `network_dir`, as CRI-O (ocicni + libcni) does: files
 * ending in .conflist, .conf or .json in lexical order; a single-plugin .conf/.json is wrapped
 * into a one-plugin list; invalid files are skipped with a reason; the first valid network wins
 * unless `cni_default_network` names one.
 */

/** CNI spec versions crio-ts can drive (what libcni 1.2 accepts from 0.3.0 on). */
export const SUPPORTED_CNI_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** File name endings libcni reads from the network directory. */
export const CNI_CONFIG_EXTENSIONS: readonly string[] = ['.conflist', '.conf', '.json'];

/** One plugin entry of a network list, kept verbatim apart from the checked `type`. */
export interface CniPluginConfig {
  type: string;
  capabilities?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A loaded network list. */
export interface CniNetwork {
  name: string;
  cniVersion: string;
  plugins: CniPluginConfig[];
  /** The file it came from, for logs and status messages. */
  file: string;
}

/** A configuration file that was not used, and why. */
export interface SkippedCniFile {
  file: string;
  reason: string;
}

/** What loadCniNetwork found: the network, or why there is none. */
export interface CniLoadResult {
  network?: CniNetwork;
  reason?: string;
  skipped: SkippedCniFile[];
}

// The CNI spec's network name rule; plugin types become file names, so no path separators.
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const TYPE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPlugin(v: unknown, where: string): CniPluginConfig {
  if (!isObject(v)) throw new InvalidArgumentError(`${where} is not a JSON object`);
  const type = v.type;
  if (typeof type !== 'string' || type === '') throw new InvalidArgumentError(`${where} is missing 'type'`);
  if (!TYPE_RE.test(type)) throw new InvalidArgumentError(`${where} has invalid type ${JSON.stringify(type)}`);
  if (v.capabilities !== undefined && !isObject(v.capabilities)) {
    throw new InvalidArgumentError(`${where} has 'capabilities' that is not an object`);
  }
  return { ...v, type };
}

/** Parses one configuration file's text into a network list; throws InvalidArgumentError naming the problem (pure). */
export function parseCniConfig(file: string, text: string): CniNetwork {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`invalid JSON: ${asError(err).message}`, { cause: err });
  }
  if (!isObject(doc)) throw new InvalidArgumentError('not a JSON object');
  const name = doc.name;
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError("missing 'name'");
  if (!NAME_RE.test(name)) throw new InvalidArgumentError(`invalid network name ${JSON.stringify(name)}`);
  const cniVersion = doc.cniVersion;
  if (typeof cniVersion !== 'string' || cniVersion === '') throw new InvalidArgumentError("missing 'cniVersion'");
  if (!SUPPORTED_CNI_VERSIONS.includes(cniVersion)) {
    throw new InvalidArgumentError(
      `cniVersion ${JSON.stringify(cniVersion)} is not supported (supported: ${SUPPORTED_CNI_VERSIONS.join(', ')})`,
    );
  }
  let plugins: CniPluginConfig[];
  if (file.endsWith('.conflist')) {
    if (!Array.isArray(doc.plugins)) throw new InvalidArgumentError("missing 'plugins' list");
    if (doc.plugins.length === 0) throw new InvalidArgumentError('has no plugins');
    plugins = doc.plugins.map((p, i) => checkPlugin(p, `plugin ${i}`));
  } else {
    // libcni's ConfListFromConf: the whole single-plugin document becomes the only plugin.
    plugins = [checkPlugin(doc, 'network')];
  }
  return { name, cniVersion, plugins, file };
}

/** Loads the network to use from `dir`; with pluginDirs, networks whose plugin binaries are missing are skipped (as ocicni does). */
export async function loadCniNetwork(dir: string, defaultName: string, pluginDirs?: readonly string[]): Promise<CniLoadResult> {
  const skipped: SkippedCniFile[] = [];
  const noConfig = `No CNI configuration file in ${dir}. Has your network provider started?`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return { reason: noConfig, skipped };
    throw err;
  }
  names = names.filter((n) => CNI_CONFIG_EXTENSIONS.includes(path.extname(n))).sort();
  const seen = new Set<string>();
  for (const n of names) {
    const file = path.join(dir, n);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      // Directories with a matching name, files removed while we read: not configurations.
      if (errnoCode(err) === 'EISDIR' || errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    let net: CniNetwork;
    try {
      net = parseCniConfig(file, text);
    } catch (err) {
      skipped.push({ file, reason: asError(err).message });
      continue;
    }
    if (seen.has(net.name)) {
      skipped.push({ file, reason: `network name ${JSON.stringify(net.name)} already defined by an earlier file` });
      continue;
    }
    seen.add(net.name);
    if (defaultName !== '' && net.name !== defaultName) continue;
    if (pluginDirs) {
      const missing: string[] = [];
      for (const p of net.plugins) if ((await findCniPlugin(p.type, pluginDirs)) === undefined) missing.push(p.type);
      if (missing.length > 0) {
        skipped.push({
          file,
          reason: `failed to find plugin ${missing.map((m) => JSON.stringify(m)).join(', ')} in path [${pluginDirs.join(' ')}]`,
        });
        continue;
      }
    }
    return { network: net, skipped };
  }
  if (defaultName !== '' && seen.size > 0) {
    return {
      reason: `No CNI configuration file for default network ${JSON.stringify(defaultName)} in ${dir}. Has your network provider started?`,
      skipped,
    };
  }
  return { reason: noConfig, skipped };
}
