import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { type AppArmorInput, resolveAppArmorProfile } from './apparmor';

const D = { defaultProfile: 'crio-default' };

const cases: { name: string; input: Partial<AppArmorInput>; want: string }[] = [
  { name: 'nothing set → default', input: {}, want: 'crio-default' },
  { name: 'nothing set → configured default', input: { defaultProfile: 'mine' }, want: 'mine' },
  { name: 'RuntimeDefault → default', input: { request: { profileType: 'RuntimeDefault' } }, want: 'crio-default' },
  { name: 'Unconfined', input: { request: { profileType: 'Unconfined' } }, want: 'unconfined' },
  { name: 'Localhost name', input: { request: { profileType: 'Localhost', localhostRef: 'my-prof' } }, want: 'my-prof' },
  { name: 'Localhost with localhost/ prefix', input: { request: { profileType: 'Localhost', localhostRef: 'localhost/my-prof' } }, want: 'my-prof' },
  { name: 'field wins over deprecated string', input: { request: { profileType: 'Unconfined' }, deprecated: 'localhost/x' }, want: 'unconfined' },
  { name: 'deprecated runtime/default', input: { deprecated: 'runtime/default' }, want: 'crio-default' },
  { name: 'deprecated unconfined (any case)', input: { deprecated: 'Unconfined' }, want: 'unconfined' },
  { name: 'deprecated localhost/NAME', input: { deprecated: 'localhost/p1' }, want: 'p1' },
  { name: 'deprecated bare name is taken as a profile (CRI-O)', input: { deprecated: 'whatever' }, want: 'whatever' },
  { name: 'legacy annotation when no CRI field', input: { legacyAnnotation: 'localhost/legacy' }, want: 'legacy' },
  { name: 'legacy annotation unconfined', input: { legacyAnnotation: 'unconfined' }, want: 'unconfined' },
  { name: 'CRI deprecated string wins over the legacy annotation', input: { deprecated: 'localhost/a', legacyAnnotation: 'localhost/b' }, want: 'a' },
  { name: 'CRI field wins over the legacy annotation', input: { request: { profileType: 'RuntimeDefault' }, legacyAnnotation: 'unconfined' }, want: 'crio-default' },
];
for (const c of cases) test(`resolveAppArmorProfile: ${c.name}`, () => assert.equal(resolveAppArmorProfile({ ...D, ...c.input }), c.want));

const bad: { name: string; input: Partial<AppArmorInput> }[] = [
  { name: 'empty Localhost', input: { request: { profileType: 'Localhost', localhostRef: '' } } },
  { name: 'Localhost without ref', input: { request: { profileType: 'Localhost' } } },
  { name: 'deprecated localhost/ without name', input: { deprecated: 'localhost/' } },
  { name: 'legacy annotation localhost/ without name', input: { legacyAnnotation: 'localhost/' } },
];
for (const c of bad) {
  test(`resolveAppArmorProfile rejects ${c.name}`, () => {
    assert.throws(() => resolveAppArmorProfile({ ...D, ...c.input }), (e: unknown) => e instanceof InvalidArgumentError && /empty localhost AppArmor profile/.test(e.message));
  });
}
