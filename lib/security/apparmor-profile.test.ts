import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InternalError } from '../errors';
import { type AppArmorProfileOptions, parseAppArmorParserVersion, renderDefaultAppArmorProfile } from './apparmor-profile';

const versions: [string, number | undefined][] = [
  ['AppArmor parser version 3.0.8\nCopyright (C) 1999-2008 Novell Inc.\n', 300008],
  ['AppArmor parser version 2.9.1', 209001],
  ['AppArmor parser version 3.0.0-beta1', 300000],
  ['AppArmor parser version 2.13~3', 213000],
  ['AppArmor parser version 4', 400000],
  ['AppArmor parser version x.y', undefined],
];
for (const [output, want] of versions) {
  test(`parseAppArmorParserVersion ${JSON.stringify(output.split('\n')[0])}`, () => {
    if (want === undefined) assert.throws(() => parseAppArmorParserVersion(output), InternalError);
    else assert.equal(parseAppArmorParserVersion(output), want);
  });
}

const base: AppArmorProfileOptions = { name: 'crio-default', parserVersion: 300008, hasTunablesGlobal: true, hasAbstractionsBase: true };

const cases: { name: string; options: Partial<AppArmorProfileOptions>; has: RegExp[]; hasNot: RegExp[] }[] = [
  {
    name: 'modern parser with includes',
    options: {},
    has: [
      /^#include <tunables\/global>$/m,
      /^profile crio-default flags=\(attach_disconnected,mediate_deleted\) \{$/m,
      /^ {2}#include <abstractions\/base>$/m,
      /^ {2}signal \(send,receive\) peer=crio-default,$/m,
      /^ {2}deny mount,$/m,
      /^ {2}deny @\{PROC\}\/sysrq-trigger rwklx,$/m,
      /^ {2}deny \/sys\/firmware\/\*\* rwklx,$/m,
      /^ {2}ptrace \(trace,read\) peer=crio-default,$/m,
      /^\}$/m,
    ],
    hasNot: [/@\{PROC\}=\/proc\//],
  },
  {
    name: 'no tunables: PROC defined inline; no abstractions include',
    options: { hasTunablesGlobal: false, hasAbstractionsBase: false },
    has: [/^@\{PROC\}=\/proc\/$/m],
    hasNot: [/#include/],
  },
  {
    name: 'old parser: no signal and no ptrace rules',
    options: { parserVersion: 208094 },
    has: [/deny mount,/],
    hasNot: [/signal/, /ptrace/],
  },
  {
    name: 'parser 2.8.95: ptrace but no signal rules',
    options: { parserVersion: 208095 },
    has: [/ptrace \(trace,read\)/],
    hasNot: [/signal/],
  },
  {
    name: 'custom name is used for the peers',
    options: { name: 'my-prof' },
    has: [/^profile my-prof /m, /peer=my-prof,/],
    hasNot: [/crio-default/],
  },
];
for (const c of cases) {
  test(`renderDefaultAppArmorProfile: ${c.name}`, () => {
    const text = renderDefaultAppArmorProfile({ ...base, ...c.options });
    for (const re of c.has) assert.match(text, re);
    for (const re of c.hasNot) assert.doesNotMatch(text, re);
  });
}

test('renderDefaultAppArmorProfile refuses names that would break the profile text', () => {
  for (const name of ['', 'a b', 'x{', 'p,']) assert.throws(() => renderDefaultAppArmorProfile({ ...base, name }), InternalError);
});
