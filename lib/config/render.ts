/**
 * Render a Config as commented TOML in CRI-O's template style. `crio config` prints this, and
 * conf/crio.conf is renderConfig(defaultConfig()), so the shipped file cannot drift from code.
 */
import { InternalError } from '../errors';
import type { Config } from './config';
import {
  API_DOCS,
  HANDLER_DOCS,
  IMAGE_DOCS,
  METRICS_DOCS,
  NETWORK_DOCS,
  NRI_DOCS,
  ROOT_DOCS,
  RUNTIME_DOCS,
  STATS_DOCS,
  TRACING_DOCS,
} from './docs';

const HEADER = `# crio-ts configuration (the crio.conf format of CRI-O).
#
# crio-ts reads the built-in defaults, then /etc/crio/crio.conf (--config), then every
# *.conf file in /etc/crio/crio.conf.d (--config-dir) in lexical order, then command-line
# flags; a key set in a later place wins. Keys crio-ts does not know are ignored with a
# warning. "crio config" prints the effective configuration in this format.
`;

/** The effective configuration as commented TOML, every table and key included. */
export function renderConfig(config: Config): string {
  const { runtimes, ...runtime } = config.runtime;
  const parts = [
    HEADER,
    table('crio', 'Storage locations and node-lifecycle marker files.', config.crio, ROOT_DOCS),
    table('crio.api', 'The CRI socket and the streaming server.', config.api, API_DOCS),
    table('crio.runtime', 'How containers are created and run.', runtime, RUNTIME_DOCS),
    ...Object.entries(runtimes).map(([name, handler]) =>
      table(`crio.runtime.runtimes.${tomlKey(name)}`, `Runtime handler "${name}".`, handler, HANDLER_DOCS),
    ),
    table('crio.image', 'Image pulls, trust policy and the pause image.', config.image, IMAGE_DOCS),
    table('crio.network', 'CNI networking.', config.network, NETWORK_DOCS),
    table('crio.metrics', 'Prometheus metrics.', config.metrics, METRICS_DOCS),
    table('crio.tracing', 'Tracing; parsed for compatibility only.', config.tracing, TRACING_DOCS),
    table('crio.stats', 'Stats collection.', config.stats, STATS_DOCS),
    table('crio.nri', 'Node Resource Interface; parsed for compatibility only.', config.nri, NRI_DOCS),
  ];
  return parts.join('\n');
}

function table(header: string, about: string, values: object, docs: Record<string, string>): string {
  const lines = [`# ${about}`, `[${header}]`];
  for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
    lines.push('', ...comment(docs[key] ?? ''), `${tomlKey(key)} = ${tomlValue(value, key)}`);
  }
  return `${lines.join('\n')}\n`;
}

function comment(text: string): string[] {
  return text === '' ? [] : text.split('\n').map((line) => `# ${line}`);
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

function tomlValue(value: unknown, key: string): string {
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[\n${value.map((v) => `  ${tomlValue(v, key)},`).join('\n')}\n]`;
  }
  throw new InternalError(`cannot render config key ${key}: unexpected ${typeof value}`);
}

/** A TOML basic string; JSON escapes are valid TOML escapes, except that TOML also wants DEL escaped. */
function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, '\\u007f');
}
