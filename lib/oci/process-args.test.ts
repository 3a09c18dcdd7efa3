import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import type { UserDb } from './passwd';
import { type ProcessArgsInput, type ResolvedUser, type UserInput, clampOomScoreAdj, mergeEnv, resolveProcessArgs, resolveUser } from './process-args';

const argCases: { name: string; input: ProcessArgsInput; want: string[] }[] = [
  { name: 'neither: entrypoint + cmd', input: { imageEntrypoint: ['/ep'], imageCmd: ['a', 'b'] }, want: ['/ep', 'a', 'b'] },
  { name: 'only image cmd', input: { imageCmd: ['sh', '-c', 'x'] }, want: ['sh', '-c', 'x'] },
  { name: 'command set: command + args, image ignored', input: { imageEntrypoint: ['/ep'], imageCmd: ['c'], command: ['/bin/x'], args: ['1'] }, want: ['/bin/x', '1'] },
  { name: 'command without args drops image cmd', input: { imageEntrypoint: ['/ep'], imageCmd: ['c'], command: ['/bin/x'] }, want: ['/bin/x'] },
  { name: 'only args: entrypoint + args', input: { imageEntrypoint: ['/ep'], imageCmd: ['c'], args: ['z'] }, want: ['/ep', 'z'] },
  { name: 'only args, no entrypoint: args alone', input: { imageCmd: ['c'], args: ['echo', 'hi'] }, want: ['echo', 'hi'] },
  { name: 'empty arrays count as unset', input: { imageEntrypoint: ['/ep'], imageCmd: ['c'], command: [], args: [] }, want: ['/ep', 'c'] },
];
for (const c of argCases) test(`resolveProcessArgs: ${c.name}`, () => assert.deepEqual(resolveProcessArgs(c.input), c.want));

test('resolveProcessArgs: nothing at all is an error', () => {
  assert.throws(() => resolveProcessArgs({}), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'no command specified');
});

const envCases: { name: string; defaults: string[]; image: string[]; cri: string[]; want: string[] }[] = [
  { name: 'disjoint keys keep layer order', defaults: ['A=1'], image: ['B=2'], cri: ['C=3'], want: ['A=1', 'B=2', 'C=3'] },
  { name: 'image overrides default_env in place', defaults: ['PATH=/x', 'A=1'], image: ['PATH=/usr/bin'], cri: [], want: ['PATH=/usr/bin', 'A=1'] },
  { name: 'CRI overrides image in place', defaults: [], image: ['A=1', 'B=2'], cri: ['A=9'], want: ['A=9', 'B=2'] },
  { name: 'values may contain =', defaults: [], image: [], cri: ['Q=a=b'], want: ['Q=a=b'] },
  { name: 'empty value kept', defaults: [], image: ['E='], cri: [], want: ['E='] },
];
for (const c of envCases) test(`mergeEnv: ${c.name}`, () => assert.deepEqual(mergeEnv({ defaults: c.defaults, image: c.image, cri: c.cri }), c.want));

test('mergeEnv rejects an empty name', () => assert.throws(() => mergeEnv({ defaults: [], image: [], cri: ['=x'] }), InvalidArgumentError));

const db: UserDb = {
  users: [
    { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
    { name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' },
  ],
  groups: [
    { name: 'root', gid: 0, members: [] },
    { name: 'app', gid: 1000, members: [] },
    { name: 'audio', gid: 29, members: ['app'] },
    { name: 'video', gid: 44, members: ['other', 'app'] },
  ],
};

const userCases: { name: string; input: UserInput; want: ResolvedUser }[] = [
  { name: 'nothing: root', input: { userDb: db }, want: { uid: 0, gid: 0, additionalGids: [0], username: 'root', home: '/root' } },
  { name: 'nothing, no db: root with defaults', input: {}, want: { uid: 0, gid: 0, additionalGids: [0], home: '/' } },
  { name: 'image numeric uid without entry', input: { imageUser: '4242' }, want: { uid: 4242, gid: 0, additionalGids: [0], home: '/' } },
  { name: 'image uid:gid', input: { imageUser: '10:20' }, want: { uid: 10, gid: 20, additionalGids: [20], home: '/' } },
  { name: 'image name with memberships (Merge)', input: { imageUser: 'app', userDb: db }, want: { uid: 1000, gid: 1000, additionalGids: [1000, 29, 44], username: 'app', home: '/home/app' } },
  { name: 'numeric uid finds the passwd entry', input: { runAsUser: 1000, userDb: db }, want: { uid: 1000, gid: 1000, additionalGids: [1000, 29, 44], username: 'app', home: '/home/app' } },
  { name: 'Strict policy skips memberships', input: { imageUser: 'app', userDb: db, supplementalGroupsPolicy: 'strict', supplementalGroups: [5] }, want: { uid: 1000, gid: 1000, additionalGids: [1000, 5], username: 'app', home: '/home/app' } },
  { name: 'name:group replaces memberships', input: { imageUser: 'app:audio', userDb: db }, want: { uid: 1000, gid: 29, additionalGids: [29], username: 'app', home: '/home/app' } },
  { name: 'run_as_user beats username and image', input: { runAsUser: 7, runAsUsername: 'app', imageUser: 'app', userDb: db }, want: { uid: 7, gid: 0, additionalGids: [0], home: '/' } },
  { name: 'run_as_username beats image', input: { runAsUsername: 'app', imageUser: '0', userDb: db }, want: { uid: 1000, gid: 1000, additionalGids: [1000, 29, 44], username: 'app', home: '/home/app' } },
  { name: 'run_as_group overrides primary gid', input: { runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [3000, 4000], userDb: db }, want: { uid: 1000, gid: 3000, additionalGids: [3000, 29, 44, 4000], username: 'app', home: '/home/app' } },
];
for (const c of userCases) test(`resolveUser: ${c.name}`, () => assert.deepEqual(resolveUser(c.input), c.want));

const badUsers: { name: string; input: UserInput; message: RegExp }[] = [
  { name: 'group without user', input: { runAsGroup: 5, imageUser: 'app', userDb: db }, message: /without user or username/ },
  { name: 'unknown user name', input: { imageUser: 'ghost', userDb: db }, message: /unable to find user ghost/ },
  { name: 'unknown group name', input: { imageUser: 'app:ghosts', userDb: db }, message: /unable to find group ghosts/ },
  { name: 'name without database', input: { imageUser: 'app' }, message: /\/etc\/passwd/ },
  { name: 'negative uid', input: { runAsUser: -1 }, message: /out of range/ },
  { name: 'uid too large', input: { imageUser: '99999999999' }, message: /out of range/ },
];
for (const c of badUsers) {
  test(`resolveUser rejects ${c.name}`, () => assert.throws(() => resolveUser(c.input), (e: unknown) => e instanceof InvalidArgumentError && c.message.test(e.message)));
}

const oomCases: { name: string; value: number; canLower: boolean; want: number; warns: boolean }[] = [
  { name: 'positive unchanged', value: 500, canLower: false, want: 500, warns: false },
  { name: 'negative allowed with CAP_SYS_RESOURCE', value: -998, canLower: true, want: -998, warns: false },
  { name: 'negative clamped to 0 without CAP_SYS_RESOURCE', value: -998, canLower: false, want: 0, warns: true },
  { name: 'above range clamped', value: 5000, canLower: true, want: 1000, warns: true },
  { name: 'below range clamped', value: -5000, canLower: true, want: -1000, warns: true },
  { name: 'zero', value: 0, canLower: false, want: 0, warns: false },
];
for (const c of oomCases) {
  test(`clampOomScoreAdj: ${c.name}`, () => {
    const r = clampOomScoreAdj(c.value, c.canLower);
    assert.equal(r.value, c.want);
    assert.equal(r.warning !== undefined, c.warns);
  });
}
