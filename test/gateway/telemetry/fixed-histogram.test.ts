import test from 'ava';
import { FixedHistogram } from '../../../gateway/telemetry/index.js';

const rows: { name: string; values: number[]; counts: number[] }[] = [
  { name: 'nothing recorded', values: [], counts: [0, 0, 0, 0] },
  { name: 'a value equal to a boundary belongs to that boundary (inclusive upper bounds)', values: [1, 10, 100], counts: [1, 1, 1, 0] },
  { name: 'below the first boundary', values: [0, 0.5], counts: [2, 0, 0, 0] },
  { name: 'above every boundary', values: [101, 1e9], counts: [0, 0, 0, 2] },
  { name: 'between boundaries', values: [2, 11, 99], counts: [0, 1, 2, 0] },
];

for (const row of rows) {
  test(`fixed histogram: ${row.name}`, (t) => {
    const histogram = new FixedHistogram([1, 10, 100]);
    for (const value of row.values) histogram.record(value);
    const snapshot = histogram.snapshot();
    t.deepEqual(snapshot.counts, row.counts);
    t.is(snapshot.count, row.values.length);
    t.is(
      snapshot.sum,
      row.values.reduce((sum, value) => sum + value, 0),
    );
    t.is(snapshot.min, row.values.length === 0 ? undefined : Math.min(...row.values));
    t.is(snapshot.max, row.values.length === 0 ? undefined : Math.max(...row.values));
  });
}

test('fixed histogram: boundaries must ascend', (t) => {
  t.throws(() => new FixedHistogram([1, 1]), { message: /ascending/ });
});
