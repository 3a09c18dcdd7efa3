import { InvalidArgumentError } from '../errors';
import { bool, integer, str, stringMap, strings, struct } from './go-json';
import type { Hook } from './spec.gen';

/**
 * OCI hook definition files (oci-hooks(5), containers/common pkg/hooks), pure: schema 1.0.0
 * (`version`, `hook`, `when`, `stages`) and the older 0.1.0 form (`hook` path string, `arguments`,
 * `cmds`, `annotations`, `hasbindmounts`, `stage(s)`), which becomes a 1.0.0 hook whose
 * conditions are or-ed. Conditions are POSIX EREs in the original; Go's RE2 runs them there, and
 * RE2's common syntax (plus leading `(?i)`-style flags and `[[:class:]]`) is translated for
 * JavaScript here.
 */

/** When a hook applies; all given conditions must hold (any, for a 0.1.0 hook). */
export interface HookWhen {
  always?: boolean;
  /** Key regexp → value regexp: some annotation must match both. */
  annotations?: Record<string, string>;
  /** Regexps for the container's process.args[0]. */
  commands?: string[];
  hasBindMounts?: boolean;
  /** The 0.1.0 semantics: one matching condition is enough. */
  or: boolean;
}

/** A hook definition, before its conditions are compiled. */
export interface HookDef {
  hook: Hook;
  when: HookWhen;
  stages: string[];
}

/** A loaded hook ready to match containers. */
export interface CompiledHook {
  /** File name: hooks apply in the order of lower-cased names, and a later directory's file masks one of the same name. */
  name: string;
  file: string;
  def: HookDef;
  annotations: [RegExp, RegExp][];
  commands: RegExp[];
}

/** The stages a hook may name; prestart becomes createRuntime as containers/common does. */
export const HOOK_STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

const LOOSE = false;
const ociHook = struct<Hook>({ path: str, args: strings, env: strings, timeout: integer(-2147483648, 2147483647) }, LOOSE);
const v1 = struct<{ version: string; hook: Partial<Hook>; when: Omit<HookWhen, 'or'>; stages: string[] }>(
  {
    version: str,
    hook: ociHook,
    when: struct<Omit<HookWhen, 'or'>>({ always: bool, annotations: stringMap, commands: strings, hasBindMounts: bool }, LOOSE),
    stages: strings,
  },
  LOOSE,
);
const v0 = struct<{
  hook: string;
  arguments: string[];
  stages: string[];
  stage: string[];
  cmds: string[];
  cmd: string[];
  annotations: string[];
  annotation: string[];
  hasbindmounts: boolean;
}>(
  { hook: str, arguments: strings, stages: strings, stage: strings, cmds: strings, cmd: strings, annotations: strings, annotation: strings, hasbindmounts: bool },
  LOOSE,
);

/** Exactly one of two synonym fields (`stage`/`stages`, ...). */
function oneOf<T>(a: T | undefined, b: T | undefined, names: string): T | undefined {
  if (a !== undefined && b !== undefined) throw new InvalidArgumentError(`cannot set both ${names}`);
  return a ?? b;
}

function readV0(raw: unknown): HookDef {
  const h = v0(raw, 'hook file');
  if (h.hook === undefined) throw new InvalidArgumentError('missing required property: hook');
  const stages = oneOf(h.stages, h.stage, "'stage' and 'stages'");
  if (stages === undefined) throw new InvalidArgumentError('missing required property: stages');
  const cmds = oneOf(h.cmds, h.cmd, "'cmd' and 'cmds'");
  const annotations = oneOf(h.annotations, h.annotation, "'annotation' and 'annotations'");
  return {
    hook: { path: h.hook, ...(h.arguments ? { args: [h.hook, ...h.arguments] } : {}) },
    when: {
      or: true,
      ...(cmds ? { commands: cmds } : {}),
      ...(h.hasbindmounts !== undefined ? { hasBindMounts: h.hasbindmounts } : {}),
      ...(annotations ? { annotations: { '.*': annotations.join('|') } } : {}),
    },
    stages,
  };
}

/** Parses a hook file's JSON text (any supported schema version). Throws InvalidArgumentError. */
export function parseHookFile(text: string): HookDef {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const version = struct<{ version: string }>({ version: str }, LOOSE)(raw, 'hook file').version ?? '';
  if (version === '' || version === '0.1.0') return readV0(raw);
  if (version !== '1.0.0') throw new InvalidArgumentError(`unrecognized hook version ${JSON.stringify(version)} (want 1.0.0 or 0.1.0)`);
  const h = v1(raw, 'hook file');
  if (!h.hook?.path) throw new InvalidArgumentError('missing required property: hook.path');
  if (h.stages === undefined) throw new InvalidArgumentError('missing required property: stages');
  return { hook: { ...h.hook, path: h.hook.path }, when: { ...h.when, or: false }, stages: h.stages };
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-/:-@[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Compiles a Go (RE2) regexp as a JavaScript RegExp; unanchored, as Go's MatchString. */
export function goRegExp(pattern: string): RegExp {
  let body = pattern;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    if (lead[1].includes('U')) throw new InvalidArgumentError(`regexp ${JSON.stringify(pattern)}: the U flag is not supported`);
    flags = [...new Set(lead[1])].join('');
    body = body.slice(lead[0].length);
  }
  body = body.replace(/\[:(\^?)([a-z]+):\]/g, (whole, neg: string, name: string) => {
    const set = POSIX_CLASSES[name];
    if (set === undefined) throw new InvalidArgumentError(`regexp ${JSON.stringify(pattern)}: unknown class [:${name}:]`);
    if (neg) throw new InvalidArgumentError(`regexp ${JSON.stringify(pattern)}: negated class ${whole} is not supported`);
    return set;
  });
  body = body.replace(/\\A/g, '^').replace(/\\z/g, '(?![\\s\\S])');
  try {
    return new RegExp(body, flags);
  } catch (err) {
    throw new InvalidArgumentError(`invalid regexp ${JSON.stringify(pattern)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Validates the definition and compiles its conditions. Throws InvalidArgumentError. */
export function compileHook(name: string, file: string, def: HookDef): CompiledHook {
  for (const s of def.stages) {
    if (!(HOOK_STAGES as readonly string[]).includes(s)) throw new InvalidArgumentError(`unknown stage ${JSON.stringify(s)} (want one of ${HOOK_STAGES.join(', ')})`);
  }
  const annotations = Object.entries(def.when.annotations ?? {}).map(([k, v]): [RegExp, RegExp] => [goRegExp(k), goRegExp(v)]);
  const commands = (def.when.commands ?? []).map(goRegExp);
  return { name, file, def, annotations, commands };
}

/** Parses and compiles one hook file. */
export function loadHookText(name: string, file: string, text: string): CompiledHook {
  return compileHook(name, file, parseHookFile(text));
}
