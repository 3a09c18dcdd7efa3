import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { annotationValue, filterDisallowedAnnotations, validateAllowedAnnotations } from './annotations';

const ANN = {
  'app': 'web',
  'io.kubernetes.pod.name': 'p',
  'seccomp-profile.crio.io/ctr': 'quay.io/p:1',
  'seccomp-profile.kubernetes.cri-o.io/POD': 'quay.io/p:2',
  'umask.crio.io': '0027',
  'io.kubernetes.cri-o.userns-mode': 'auto',
  'io.containers.trace-syscall': 'of:/tmp/x',
  'run.oci.keep_original_groups': '1',
  'bundle-path': 'x',
};

const cases: { name: string; allowed: string[]; kept: string[] }[] = [
  { name: 'nothing allowed: every gated annotation (and prefix) is removed', allowed: [], kept: ['app', 'io.kubernetes.pod.name'] },
  { name: 'a v2 name allows exactly that feature', allowed: ['umask.crio.io'], kept: ['app', 'io.kubernetes.pod.name', 'umask.crio.io'] },
  { name: 'prefix entries cover container-specific keys', allowed: ['seccomp-profile.crio.io'], kept: ['app', 'io.kubernetes.pod.name', 'seccomp-profile.crio.io/ctr'] },
  { name: 'v1 names are gated separately', allowed: ['seccomp-profile.kubernetes.cri-o.io', 'io.kubernetes.cri-o.userns-mode'], kept: ['app', 'io.kubernetes.pod.name', 'seccomp-profile.kubernetes.cri-o.io/POD', 'io.kubernetes.cri-o.userns-mode'] },
  { name: 'CRI-O default handler list', allowed: ['io.containers.trace-syscall', 'devices.crio.io'], kept: ['app', 'io.kubernetes.pod.name', 'io.containers.trace-syscall'] },
  { name: 'run.oci. and bundle prefixes', allowed: ['run.oci.', 'bundle'], kept: ['app', 'io.kubernetes.pod.name', 'run.oci.keep_original_groups', 'bundle-path'] },
];
for (const c of cases) {
  test(`filterDisallowedAnnotations: ${c.name}`, () => {
    const { kept, removed } = filterDisallowedAnnotations(ANN, c.allowed);
    assert.deepEqual(Object.keys(kept).sort(), [...c.kept].sort());
    assert.deepEqual([...Object.keys(kept), ...removed].sort(), Object.keys(ANN).sort());
  });
}

const lookups: { name: string; annotations: Record<string, string>; key: string; want: string | undefined }[] = [
  { name: 'v2 name', annotations: { 'umask.crio.io': '0022' }, key: 'umask.crio.io', want: '0022' },
  { name: 'v1 fallback', annotations: { 'io.kubernetes.cri-o.umask': '0077' }, key: 'umask.crio.io', want: '0077' },
  { name: 'v2 wins over v1', annotations: { 'umask.crio.io': '1', 'io.kubernetes.cri-o.umask': '2' }, key: 'umask.crio.io', want: '1' },
  { name: 'container-specific v1 fallback', annotations: { 'seccomp-profile.kubernetes.cri-o.io/c1': 'x' }, key: 'seccomp-profile.crio.io/c1', want: 'x' },
  { name: 'absent', annotations: {}, key: 'umask.crio.io', want: undefined },
  { name: 'empty value is present', annotations: { 'umask.crio.io': '' }, key: 'umask.crio.io', want: '' },
];
for (const c of lookups) test(`annotationValue: ${c.name}`, () => assert.equal(annotationValue(c.annotations, c.key), c.want));

test('validateAllowedAnnotations accepts known names and refuses others, naming the key', () => {
  validateAllowedAnnotations(['umask.crio.io', 'io.kubernetes.cri-o.Devices', 'run.oci.'], 'k');
  assert.throws(() => validateAllowedAnnotations(['made-up.crio.io'], 'crio.runtime.runtimes.runc.allowed_annotations'), (e: unknown) => e instanceof InvalidArgumentError && /runtimes\.runc\.allowed_annotations: invalid allowed_annotation "made-up\.crio\.io"/.test(e.message));
});
