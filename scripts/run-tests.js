#!/usr/bin/env node
// Runs the compiled test files with node's built-in runner.
//   unit:        build/lib/**/*.test.js and build/test/*.test.js (pure, parallel)
//   integration: build/test/integration/*.test.js (real runc/conmon/CNI/registry; one file at a time
//                because they share the host's mounts, cgroups and network namespaces)
//   faults:      build/test/faults/*.test.js (the daemon SIGKILLed at fault points; one file at a time)
//   all:         unit, integration and faults, unit first, in one run so the summary covers everything
//   node-e2e:    build/test/node-e2e/*.test.js (the real kubelet on the production socket; not in all)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', 'build');

function find(dir, pred, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) find(p, pred, out);
    else if (pred(p)) out.push(p);
  }
  return out.sort();
}

const isTest = (p) => p.endsWith('.test.js');
const unit = [...find(path.join(root, 'lib'), isTest), ...find(path.join(root, 'test'), (p) => isTest(p) && path.dirname(p) === path.join(root, 'test'))];
const integration = find(path.join(root, 'test', 'integration'), isTest);
const faults = find(path.join(root, 'test', 'faults'), isTest);
// The node e2e suite (real kubelet; KUBELET=<binary>) runs only when asked for by name.
const nodeE2e = find(path.join(root, 'test', 'node-e2e'), isTest);

const which = process.argv[2] ?? 'all';
const filter = process.argv[3];
const pick = (files) => (filter ? files.filter((f) => f.includes(filter)) : files);

function run(files, concurrency) {
  if (files.length === 0) return 0;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit' });
  return r.status ?? 1;
}

// One runner invocation for 'all' so the closing summary counts every test.
const files =
  which === 'unit'
    ? pick(unit)
    : which === 'integration'
      ? pick(integration)
      : which === 'faults'
        ? pick(faults)
        : which === 'node-e2e'
          ? pick(nodeE2e)
          : pick([...unit, ...integration, ...faults]);
process.exit(run(files, which === 'unit' ? 2 : 1));
