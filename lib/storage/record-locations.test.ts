import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeLocations, planSave, type RecordLocation } from './record-locations';

interface R {
  id: string;
  v?: number;
}

const j = (rs: R[]): string => JSON.stringify(rs);

const merges: { name: string; durable: R[]; volatile: R[]; records: R[]; locations: [string, RecordLocation][] }[] = [
  { name: 'both empty', durable: [], volatile: [], records: [], locations: [] },
  { name: 'durable only (a store of c/storage < 1.45 or of older crio-ts)', durable: [{ id: 'a' }], volatile: [], records: [{ id: 'a' }], locations: [['a', 'durable']] },
  {
    name: 'both, durable first',
    durable: [{ id: 'a' }],
    volatile: [{ id: 'b' }, { id: 'c' }],
    records: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
    locations: [['a', 'durable'], ['b', 'volatile'], ['c', 'volatile']],
  },
  { name: 'an ID in both keeps the durable copy', durable: [{ id: 'a', v: 1 }], volatile: [{ id: 'a', v: 2 }], records: [{ id: 'a', v: 1 }], locations: [['a', 'durable']] },
];

for (const c of merges) {
  test(`mergeLocations: ${c.name}`, () => {
    const m = mergeLocations({ durable: c.durable, volatile: c.volatile });
    assert.deepEqual(m.records, c.records);
    assert.deepEqual([...m.locations], c.locations);
    assert.equal(m.texts.durable, j(c.records.filter((r) => m.locations.get(r.id) === 'durable')));
    assert.equal(m.texts.volatile, j(c.records.filter((r) => m.locations.get(r.id) === 'volatile')));
  });
}

const loaded = mergeLocations<R>({ durable: [{ id: 'img1' }, { id: 'old-ctr' }], volatile: [{ id: 'ctr1' }] });

const plans: { name: string; records: R[]; volatile: string[]; writes: RecordLocation[]; durable: R[]; vol: R[] }[] = [
  { name: 'nothing changed: no file written', records: [{ id: 'img1' }, { id: 'old-ctr' }, { id: 'ctr1' }], volatile: [], writes: [], durable: [{ id: 'img1' }, { id: 'old-ctr' }], vol: [{ id: 'ctr1' }] },
  {
    name: 'a new volatile record: only the volatile file',
    records: [{ id: 'img1' }, { id: 'old-ctr' }, { id: 'ctr1' }, { id: 'ctr2' }],
    volatile: ['ctr2'],
    writes: ['volatile'],
    durable: [{ id: 'img1' }, { id: 'old-ctr' }],
    vol: [{ id: 'ctr1' }, { id: 'ctr2' }],
  },
  {
    name: 'a new durable record (a pulled layer): only the durable file',
    records: [{ id: 'img1' }, { id: 'old-ctr' }, { id: 'ctr1' }, { id: 'img2' }],
    volatile: [],
    writes: ['durable'],
    durable: [{ id: 'img1' }, { id: 'old-ctr' }, { id: 'img2' }],
    vol: [{ id: 'ctr1' }],
  },
  { name: 'a volatile record removed: only the volatile file', records: [{ id: 'img1' }, { id: 'old-ctr' }], volatile: [], writes: ['volatile'], durable: [{ id: 'img1' }, { id: 'old-ctr' }], vol: [] },
  {
    name: 'a durable record of older crio-ts changed: it stays durable even if listed volatile',
    records: [{ id: 'img1' }, { id: 'old-ctr', v: 2 }, { id: 'ctr1' }],
    volatile: ['old-ctr'],
    writes: ['durable'],
    durable: [{ id: 'img1' }, { id: 'old-ctr', v: 2 }],
    vol: [{ id: 'ctr1' }],
  },
  {
    name: 'a volatile record changed (its layer completed): only the volatile file',
    records: [{ id: 'img1' }, { id: 'old-ctr' }, { id: 'ctr1', v: 1 }],
    volatile: [],
    writes: ['volatile'],
    durable: [{ id: 'img1' }, { id: 'old-ctr' }],
    vol: [{ id: 'ctr1', v: 1 }],
  },
  { name: 'changes in both: both files', records: [{ id: 'img1' }, { id: 'ctr3' }], volatile: ['ctr3'], writes: ['durable', 'volatile'], durable: [{ id: 'img1' }], vol: [{ id: 'ctr3' }] },
];

for (const c of plans) {
  test(`planSave: ${c.name}`, () => {
    const p = planSave(c.records, loaded.locations, loaded.texts, new Set(c.volatile));
    assert.deepEqual(p.writes.map((w) => w.location), c.writes);
    assert.equal(p.texts.durable, j(c.durable));
    assert.equal(p.texts.volatile, j(c.vol));
    for (const w of p.writes) assert.equal(w.text, p.texts[w.location]);
    for (const r of c.records) assert.equal(p.locations.get(r.id), c.durable.some((d) => d.id === r.id) ? 'durable' : 'volatile');
  });
}
