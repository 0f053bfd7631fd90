import test from 'ava';
import { BoundedMemo } from '../../gateway/bounded-memo.js';

test('remembers values and starts over when full, so it never grows past its bound', (t) => {
  const memo = new BoundedMemo<string, number>(2);
  t.is(memo.remember('a', 1), 1);
  memo.remember('b', 2);
  t.is(memo.get('a'), 1);
  memo.remember('c', 3);
  t.is(memo.get('a'), undefined, 'the full memo was cleared');
  t.is(memo.get('c'), 3);
});
