import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { type AppArmorRequest, resolveAppArmorProfile } from './apparmor';

const cases: { name: string; request?: AppArmorRequest; deprecated?: string; want: string }[] = [
  { name: 'nothing set → default', want: 'crio-default' },
  { name: 'RuntimeDefault → default', request: { profileType: 'RuntimeDefault' }, want: 'crio-default' },
  { name: 'Unconfined', request: { profileType: 'Unconfined' }, want: 'unconfined' },
  { name: 'Localhost name', request: { profileType: 'Localhost', localhostRef: 'my-prof' }, want: 'my-prof' },
  { name: 'Localhost with localhost/ prefix', request: { profileType: 'Localhost', localhostRef: 'localhost/my-prof' }, want: 'my-prof' },
  { name: 'field wins over deprecated string', request: { profileType: 'Unconfined' }, deprecated: 'localhost/x', want: 'unconfined' },
  { name: 'deprecated runtime/default', deprecated: 'runtime/default', want: 'crio-default' },
  { name: 'deprecated unconfined', deprecated: 'unconfined', want: 'unconfined' },
  { name: 'deprecated localhost/NAME', deprecated: 'localhost/p1', want: 'p1' },
];
for (const c of cases) test(`resolveAppArmorProfile: ${c.name}`, () => assert.equal(resolveAppArmorProfile(c.request, c.deprecated, 'crio-default'), c.want));

const bad: { name: string; request?: AppArmorRequest; deprecated?: string }[] = [
  { name: 'empty Localhost', request: { profileType: 'Localhost', localhostRef: '' } },
  { name: 'deprecated localhost/ without name', deprecated: 'localhost/' },
  { name: 'deprecated nonsense', deprecated: 'whatever' },
];
for (const c of bad) test(`resolveAppArmorProfile rejects ${c.name}`, () => assert.throws(() => resolveAppArmorProfile(c.request, c.deprecated, 'crio-default'), InvalidArgumentError));
