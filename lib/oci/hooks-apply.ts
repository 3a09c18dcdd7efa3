import type { CompiledHook } from './hooks-def';
import type { Spec } from './spec-input';

/**
 * Which OCI hooks a container gets and where they go in its spec (containers/common
 * Manager.Hooks and When.Match), pure. Hooks are taken in the order of their lower-cased file
 * names; a matching hook is appended to each of its stages, `prestart` going to createRuntime
 * (the same point in runc, and the stage the OCI spec keeps).
 */

/** What hook conditions look at. */
export interface HookMatchContext {
  /** The container's annotations with the pod's on top (CRI-O's order). */
  annotations: Readonly<Record<string, string>>;
  /** The container's process.args[0]. */
  command: string | undefined;
  /** The CreateContainer request has mounts (host-to-container bind mounts). */
  hasBindMounts: boolean;
}

/** When.Match: every given condition must hold, or one of them for an or-ed (0.1.0) hook. */
export function hookMatches(h: CompiledHook, ctx: HookMatchContext): boolean {
  const when = h.def.when;
  const conditions: boolean[] = [];
  if (when.always !== undefined) conditions.push(when.always);
  // hasBindMounts: false never matches (as in containers/common).
  if (when.hasBindMounts !== undefined) conditions.push(when.hasBindMounts && ctx.hasBindMounts);
  for (const [key, value] of h.annotations) conditions.push(Object.entries(ctx.annotations).some(([k, v]) => key.test(k) && value.test(v)));
  if (when.or && conditions.some(Boolean)) return true;
  if (!when.or && conditions.some((c) => !c)) return false;
  // Commands decide on their own once the other conditions passed.
  const command = ctx.command;
  if (command !== undefined && h.commands.length > 0) return h.commands.some((re) => re.test(command));
  return conditions.some(Boolean);
}

type Stage = keyof NonNullable<Spec['hooks']>;

const STAGE_OF: Readonly<Record<string, Stage>> = {
  prestart: 'createRuntime',
  createRuntime: 'createRuntime',
  createContainer: 'createContainer',
  startContainer: 'startContainer',
  poststart: 'poststart',
  poststop: 'poststop',
};

/** Sorts hooks into injection order (lower-cased file name). */
export function sortHooks(hooks: readonly CompiledHook[]): CompiledHook[] {
  const key = (h: CompiledHook): string => h.name.toLowerCase();
  return [...hooks].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Adds the matching hooks (already in injection order) to a copy of `input`; `matched` names their files. */
export function applyOciHooks(input: Spec, hooks: readonly CompiledHook[], ctx: HookMatchContext): { spec: Spec; matched: string[] } {
  const matching = hooks.filter((h) => hookMatches(h, ctx));
  if (matching.length === 0) return { spec: input, matched: [] };
  const spec = structuredClone(input);
  const stages = (spec.hooks ??= {});
  for (const h of matching) {
    for (const s of h.def.stages) {
      const stage = STAGE_OF[s];
      if (stage !== undefined) (stages[stage] ??= []).push(structuredClone(h.def.hook));
    }
  }
  return { spec, matched: matching.map((h) => h.file) };
}
