#!/usr/bin/env node
// Part of `npm run build`: compiles the daemon's Node-API addons, native/<name>.c (spawn.c:
// posix_spawn; malloc-trim.c: malloc_trim; mount.c: mount(2)/umount2(2); pod-ns.c: a pod's
// namespaces made on a thread; sd-notify.c: systemd's notify datagram; each header says why)
// into build/native/<name>.node
// with the system C compiler (g++/gcc come with scripts/setup.sh's
// RUNTIME_PKGS, as for os-lock) against the Node-API headers of the running node. Node-API is
// ABI-stable, so one build serves every Node 20+. Skipped when the output is newer than the source.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
// The headers the addons share (native/*.h): a change rebuilds every addon.
const headersMtime = Math.max(0, ...fs.readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.h')).map((f) => fs.statSync(path.join(root, 'native', f)).mtimeMs));
for (const name of ['spawn', 'malloc-trim', 'mount', 'pod-ns', 'sd-notify']) {
  const src = path.join(root, 'native', `${name}.c`);
  const out = path.join(root, 'build', 'native', `${name}.node`);
  const upToDate = fs.existsSync(out) && fs.statSync(out).mtimeMs >= Math.max(fs.statSync(src).mtimeMs, headersMtime);
  if (!upToDate) {
    // node's own headers: <prefix>/include/node for distribution packages and release tarballs.
    const candidates = [path.resolve(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
    const include = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
    if (!include) {
      console.error(`build-native: node_api.h not found in ${candidates.join(', ')} (install the headers of this node)`);
      process.exit(1);
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.tmp`;
    execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter', '-shared', '-fPIC', `-I${include}`, '-o', tmp, src], { stdio: 'inherit' });
    fs.renameSync(tmp, out);
  }
}
