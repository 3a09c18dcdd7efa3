import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/**
 * Keeps the dependency direction of DEVELOPERS.md true by reading every import of lib/**:
 * cmd → lib/server → domain modules → leaf utilities; only the server knows gRPC; pure modules
 * do no I/O; third-party packages stay at their edges.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const LIB = path.join(ROOT, 'lib');

interface Import {
  file: string;
  spec: string;
  typeOnly: boolean;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ file: path.relative(ROOT, file), spec: m[3] ?? '', typeOnly: Boolean(m[2]) });
  for (const m of text.matchAll(/(?:require|import)\(\s*'([^']+)'\s*\)/g)) out.push({ file: path.relative(ROOT, file), spec: m[1] ?? '', typeOnly: false });
  return out;
}

/** The lib/ module an import lands in ('server', 'image', 'errors.ts', ...), if it is one. */
function target(imp: Import): string | undefined {
  if (!imp.spec.startsWith('.')) return undefined;
  const abs = path.resolve(ROOT, path.dirname(imp.file), imp.spec);
  if (!abs.startsWith(LIB + path.sep)) return undefined;
  return path.relative(LIB, abs).split(path.sep)[0];
}

function moduleOf(file: string): string {
  return path.relative(LIB, path.join(ROOT, file)).split(path.sep)[0] ?? '';
}

const files = walk(LIB).filter((f) => !f.includes(`${path.sep}cri${path.sep}gen${path.sep}`));
const imports = files.flatMap(importsOf);
const DOMAIN = ['image', 'storage', 'oci', 'security', 'network', 'state', 'config', 'streaming'];
const LEAVES = ['errors', 'log', 'context', 'fsutil', 'process', 'cleanup', 'quantity', 'mountinfo', 'idmap', 'perl-syscalls', 'metrics', 'sd-notify', 'fault-points', 'quote', 'spawn'];

/** Modules whose job is spawning programs (through lib/spawn.ts); everything else goes through lib/process.ts. */
const SPAWNERS = new Set([
  'lib/process.ts',
  'lib/oci/conmon.ts',
  'lib/oci/conmon-exec.ts',
  'lib/oci/exec-sync.ts',
  'lib/oci/exec-stream.ts',
  // perl must hold the memfd open (stdin) until the daemon has opened it: runProgram closes stdin at once.
  'lib/oci/sealed-runtime.ts',
  'lib/streaming/netns-forward.ts',
]);

/** Pure modules: data in, data out; unit-tested without touching the host. */
const PURE = new Set([
  'lib/oci/spec.ts',
  'lib/oci/spec-input.ts',
  'lib/oci/spec-mounts.ts',
  'lib/oci/defaults.ts',
  'lib/oci/process-args.ts',
  'lib/oci/conmon-args.ts',
  'lib/oci/runc-args.ts',
  'lib/oci/exec-process.ts',
  'lib/oci/go-json.ts',
  'lib/oci/cdi-names.ts',
  'lib/oci/cdi-spec.ts',
  'lib/oci/cdi-registry.ts',
  'lib/oci/cdi-edits.ts',
  'lib/oci/hooks-def.ts',
  'lib/oci/hooks-apply.ts',
  'lib/oci/device-binds.ts',
  'lib/security/security.ts',
  'lib/security/capabilities.ts',
  'lib/security/apparmor.ts',
  'lib/security/apparmor-profile.ts',
  'lib/security/annotations.ts',
  'lib/security/seccomp.ts',
  'lib/security/seccomp-profile.ts',
  'lib/security/seccomp-oci.ts',
  'lib/security/seccomp-default.ts',
  'lib/security/selinux.ts',
  'lib/network/sysctls.ts',
  'lib/network/cni-request.ts',
  'lib/image/reference.ts',
  'lib/storage/overlay.ts',
  'lib/quantity.ts',
]);
const IO_BUILTINS = /^node:(fs|fs\/promises|child_process|net|dgram|http|https|http2)$/;

function violations(pred: (i: Import) => boolean): string[] {
  return imports.filter(pred).map((i) => `${i.file} imports ${i.spec}`);
}

test('only lib/server imports @grpc/grpc-js or lib/server', () => {
  assert.deepEqual(
    violations((i) => moduleOf(i.file) !== 'server' && (i.spec === '@grpc/grpc-js' || target(i) === 'server')),
    [],
  );
});

test('outside lib/server the generated CRI code is imported for types only', () => {
  assert.deepEqual(
    violations((i) => moduleOf(i.file) !== 'server' && !i.typeOnly && /cri\/gen\/api$/.test(i.spec)),
    [],
  );
});

test('leaf utilities import no domain module', () => {
  assert.deepEqual(
    violations((i) => LEAVES.includes(moduleOf(i.file).replace(/\.ts$/, '')) && DOMAIN.includes(target(i) ?? '')),
    [],
  );
});

test('lib/storage depends on no other domain module', () => {
  assert.deepEqual(
    violations((i) => moduleOf(i.file) === 'storage' && !i.typeOnly && DOMAIN.filter((d) => d !== 'storage').includes(target(i) ?? '')),
    [],
  );
});

test('prom-client only in lib/metrics/prometheus.ts, which only start.ts loads; child_process only in the spawner modules', () => {
  assert.deepEqual(violations((i) => /^prom-client(\/|$)/.test(i.spec) && i.file !== 'lib/metrics/prometheus.ts'), []);
  // Loaded on first use only (enable_metrics): a static import would put it in every daemon's memory.
  const lazyModules = ['prometheus', 'server'].map((m) => path.join(LIB, 'metrics', m));
  const lazy = (i: Import): boolean => i.spec.startsWith('.') && lazyModules.includes(path.resolve(ROOT, path.dirname(i.file), i.spec));
  assert.deepEqual(violations((i) => lazy(i) && !i.typeOnly && i.file !== 'lib/metrics/start.ts'), []);
  assert.doesNotMatch(readFileSync(path.join(LIB, 'metrics', 'start.ts'), 'utf8'), /^import (?!type)[^;]*from '\.\/(prometheus|server)'/m);
  // Only lib/spawn.ts uses Node's spawn (its fallback); every program starts through it (posix_spawn).
  assert.deepEqual(violations((i) => /^(node:)?child_process$/.test(i.spec) && i.file !== 'lib/spawn.ts'), []);
  assert.deepEqual(violations((i) => target(i) === 'spawn' && !SPAWNERS.has(i.file)), []);
});

test('pure modules do no I/O', () => {
  for (const f of PURE) assert.ok(files.includes(path.join(ROOT, f)), `${f} is listed as pure but does not exist`);
  assert.deepEqual(
    violations((i) => PURE.has(i.file) && (IO_BUILTINS.test(i.spec) || ['process.ts', 'fsutil.ts'].includes(target(i) ?? '') || /\/(process|fsutil)$/.test(i.spec))),
    [],
  );
});

test('what only attach, pulls or nothing needs is not imported at start (idle RSS, issue 17)', () => {
  // node-unix-socket (a native addon that loads worker_threads) and worker_threads are required
  // where first used; perf_hooks is not used at all (lib/monotonic.ts). Only the unpack worker,
  // which runs on its own thread, imports worker_threads statically.
  const statics = files.flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/^import (?!type )[^;]*from '(node-unix-socket|node:worker_threads|(?:node:)?perf_hooks)'/gm)].map((m) => `${path.relative(ROOT, f)}: ${m[1]}`),
  );
  assert.deepEqual(statics, ['lib/storage/unpack-worker.ts: node:worker_threads']);
});
