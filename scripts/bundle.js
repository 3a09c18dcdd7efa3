#!/usr/bin/env node
// Second step of `npm run build` (after tsc): replaces build/cmd/crio.js, the daemon's entry
// point, with one minified bundle of it and everything it loads at start, so every launcher
// (systemd unit, setup.sh, the README, the test harness, the benches) runs the bundle unchanged.
//
// Why (issue 17, bench/idle-rss.ts): V8 keeps the source text of every loaded script, and tsc's
// output is ~300 modules and ~2.6 MB of text at idle; one minified ASCII-only bundle is ~1.3 MB
// and ~300 module wrappers fewer. The settled idle RSS fell 59.7 → 58.4 MiB. A script with any
// character outside Latin-1 is stored two bytes per character, so the build fails on one.
//
// Kept out of the bundle (loaded from node_modules when used): native addons (must be files),
// and packages only some RPCs or settings need, whose text would otherwise sit in memory from
// start: signature verification, metrics, streaming, pull decompression, proto-loader (grpc-js
// loads it only for channelz/reflection). The unpack worker, started by a path relative to its
// pool's file, gets a bundle next to the daemon's.
'use strict';
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cmd = path.join(root, 'build', 'cmd');
const EXTERNAL = [
  'os-lock',
  'node-unix-socket',
  'openpgp',
  'prom-client',
  'spdy-transport',
  'ws',
  'tar-stream',
  'fzstd',
  'js-yaml',
  '@grpc/proto-loader',
];

const entries = [
  { in: path.join(cmd, 'crio.js'), out: 'crio' },
  { in: path.join(root, 'build', 'lib', 'storage', 'unpack-worker.js'), out: 'unpack-worker' },
];

const result = esbuild.buildSync({
  entryPoints: entries,
  outdir: cmd,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  // Readable stack traces come from the map (node --enable-source-maps); it is not loaded otherwise.
  sourcemap: 'linked',
  // `import()` of a package becomes require(): the daemon is CommonJS, and a real import() in a
  // bundle needs the ESM loader for what require() does.
  supported: { 'dynamic-import': false },
  external: EXTERNAL,
  logLevel: 'warning',
  metafile: true,
});

for (const file of Object.keys(result.metafile.outputs)) {
  if (!file.endsWith('.js')) continue;
  const text = fs.readFileSync(path.join(root, file));
  const at = text.findIndex((b) => b > 0x7f);
  if (at >= 0) {
    const line = text.subarray(0, at).toString('latin1').split('\n').length;
    console.error(`bundle: ${file} has a non-ASCII byte at line ${line}: write it as a \\u escape in the source (see scripts/bundle.js)`);
    process.exit(1);
  }
}
