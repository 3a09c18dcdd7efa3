import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orphanVolatileLayers } from './orphan-layers';
import type { RecordLocation } from './record-locations';
import type { StoredLayer } from './store-records';

const volatile = new Set(['rw1', 'rw2', 'rw-incomplete', 'rw-parent', 'rw-child', 'rw-image']);
const locationOf = (id: string): RecordLocation => (volatile.has(id) ? 'volatile' : 'durable');
const layers: StoredLayer[] = [
  { id: 'base' },
  { id: 'pulled-unused' },
  { id: 'rw1', parent: 'base' },
  { id: 'rw2', parent: 'base' },
  { id: 'rw-incomplete', parent: 'base', flags: { incomplete: true } },
  { id: 'rw-parent' },
  { id: 'rw-child', parent: 'rw-parent' },
  { id: 'rw-image' },
];

const cases: { name: string; containers: string[]; images: string[]; want: string[] }[] = [
  { name: 'every volatile layer has a user', containers: ['rw1', 'rw2', 'rw-child'], images: ['rw-image'], want: [] },
  { name: 'a container record lost in a crash', containers: ['rw2', 'rw-child'], images: ['rw-image'], want: ['rw1'] },
  {
    name: 'never durable layers (podman commits pulled layers before their image), never incomplete ones, never a parent',
    containers: [],
    images: [],
    want: ['rw1', 'rw2', 'rw-child', 'rw-image'],
  },
  { name: 'an image using a volatile layer keeps it', containers: ['rw1', 'rw2', 'rw-child'], images: ['', 'rw-image'], want: [] },
];

for (const c of cases) {
  test(`orphanVolatileLayers: ${c.name}`, () => {
    assert.deepEqual(orphanVolatileLayers({ layers, locationOf, containerLayers: c.containers, imageLayers: c.images }), c.want);
  });
}
