import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, type LoggerOptions } from './log';

function capture(options: Omit<LoggerOptions, 'write'>): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ ...options, write: (l) => lines.push(l) }) };
}

const TIME = /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)" /;

test('text: logrus shape, warn printed as "warning", fields sorted, quoted only when needed', () => {
  const { lines, log } = capture({ level: 'info' });
  log.child({ rpc: 'RunPodSandbox', reqId: 'ab12' }).warn('pod sandbox created', { podSandboxId: 'f00', durationMs: 12.5, note: 'two words', empty: '' });
  assert.equal(lines.length, 1);
  assert.match(lines[0], TIME);
  assert.equal(
    lines[0].replace(TIME, ''),
    'level=warning msg="pod sandbox created" durationMs=12.5 empty="" note="two words" podSandboxId=f00 reqId=ab12 rpc=RunPodSandbox\n',
  );
});

test('text: objects as JSON, errors as their message, newlines escaped (one line per event)', () => {
  const { lines, log } = capture({ level: 'debug' });
  log.error('failed', { cause: new Error('boom\nsecond line'), request: { a: [1, 2] }, big: 10n });
  assert.equal(lines[0].replace(TIME, ''), 'level=error msg=failed big=10 cause="boom\\nsecond line" request="{\\"a\\":[1,2]}"\n');
});

test('json: level, msg, time and the fields; clashing keys renamed as logrus does', () => {
  const { lines, log } = capture({ level: 'info', format: 'json' });
  log.info('image pulled', { image: 'busybox', bytes: 5, msg: 'clash', timeout: 5n });
  const doc = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(doc.level, 'info');
  assert.equal(doc.msg, 'image pulled');
  assert.equal(doc.image, 'busybox');
  assert.equal(doc.bytes, 5);
  assert.equal(doc['fields.msg'], 'clash');
  assert.equal(doc.timeout, '5', 'bigints (in request dumps) as strings, never a throw');
  assert.match(String(doc.time), /^\d{4}-/);
  assert.ok(lines[0].endsWith('}\n'));
});

test('levels: below the threshold is dropped; setLevel changes it at run time; fatal/panic/trace map onto the four', () => {
  const { lines, log } = capture({ level: 'warn' });
  log.info('hidden');
  log.debug('hidden');
  log.warn('shown');
  log.setLevel('debug');
  log.debug('now shown');
  log.setLevel('fatal');
  log.warn('hidden again');
  log.error('errors still');
  log.setLevel('trace');
  log.debug('trace shows debug');
  assert.deepEqual(
    lines.map((l) => /msg=("[^"]*"|\S+)/.exec(l)?.[1]),
    ['shown', '"now shown"', '"errors still"', '"trace shows debug"'],
  );
});

test('log_filter: only lines whose message and fields match; setFilter swaps it, a bad pattern keeps the old one', () => {
  const { lines, log } = capture({ level: 'info', filter: 'container' });
  log.info('pod sandbox created', { podSandboxId: 'p1' });
  log.info('container created', { containerId: 'c1' });
  log.info('image pulled', { containerId: 'c2' }); // matches on the field name
  assert.equal(lines.length, 2);
  assert.throws(() => log.setFilter('('), /log_filter "\(" does not compile/);
  log.info('pod sandbox created again');
  assert.equal(lines.length, 2, 'the old filter still applies');
  log.setFilter('');
  log.info('pod sandbox created again');
  assert.equal(lines.length, 3);
});

test('debug messages never show byte arrays (CRI-O\'s predefined filter)', () => {
  const { lines, log } = capture({ level: 'debug' });
  log.debug('payload [1 2 3 255] sent');
  assert.match(lines[0], /msg="payload \[FILTERED\] sent"/);
});
