import test from 'ava';
import { newDecisionId } from '../../gateway/decision-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** More than one batch of random bytes (256 ids), so refills are crossed many times. */
const IDS = 20_000;

test('decision ids are version-4 UUIDs, lower-case, all different', (t) => {
  const ids = Array.from({ length: IDS }, () => newDecisionId());
  const malformed = ids.filter((id) => !UUID_V4.test(id));
  t.deepEqual(malformed, []);
  t.is(new Set(ids).size, IDS);
});

test('every random hex digit takes all sixteen values across ids (no position stuck)', (t) => {
  const seen = Array.from({ length: 36 }, () => new Set<string>());
  for (let i = 0; i < 2_000; i++) {
    const id = newDecisionId();
    for (let at = 0; at < 36; at++) seen[at]?.add(id[at] as string);
  }
  const fixed = new Map([
    [8, 1],
    [13, 1],
    [14, 1], // the version digit, 4
    [18, 1],
    [19, 4], // the variant digit, 8 to b
    [23, 1],
  ]);
  const stuck = seen.flatMap((values, at) => (values.size === (fixed.get(at) ?? 16) ? [] : [`${at}: ${values.size}`]));
  t.deepEqual(stuck, []);
});
