/**
 * Properties of path normalization (gateway/request/path.ts) on random and
 * hostile paths: it agrees with an independent model of RFC 3986 §5.2.4 and
 * §6.2.2, is idempotent, leaves no dot segment behind, and never throws.
 */
import test from 'ava';
import fc from 'fast-check';
import { normalizePath, splitPathAndQuery } from '../../gateway/request/path.js';
import { referenceNormalizePath } from '../helpers/fuzz-check-requests.js';
import { numRuns } from './runs.js';

/** Segments that exercise every rule: dots (plain and encoded), escapes of every kind, backslashes, hostile bytes. */
const piece = fc.oneof(
  fc.constantFrom('.', '..', '%2e', '%2E%2e', '.%2e', '%2f', '%5c', '%5C', '%41', '%7e', '%00', '%zz', '%', '%2', '\\', '', 'a', 'admin'),
  fc.string({ unit: fc.constantFrom(...'abc.%2eEf/\\~-_:@!$&()*+,;='.split('')), maxLength: 8 }),
  fc.string({ maxLength: 4 }),
);
const path = fc.oneof(
  fc.array(piece, { maxLength: 10 }).map((pieces) => `/${pieces.join('/')}`),
  fc.array(piece, { maxLength: 10 }).map((pieces) => pieces.join('\\')),
  fc.webPath(),
  fc.string(),
);

test('normalizePath agrees with an independent RFC 3986 model: same path, or refused by both', (t) => {
  fc.assert(
    fc.property(path, (raw) => {
      const result = normalizePath(raw);
      const expected = referenceNormalizePath(raw);
      return result.ok ? result.path === expected : expected === undefined;
    }),
    { numRuns: numRuns(5000) },
  );
  t.pass();
});

test('normalizePath is idempotent and leaves no dot segment, backslash or decodable unreserved escape', (t) => {
  fc.assert(
    fc.property(path, (raw) => {
      const once = normalizePath(raw);
      if (!once.ok) return typeof once.reason === 'string' && once.reason.length > 0;
      const twice = normalizePath(once.path);
      return (
        twice.ok &&
        twice.path === once.path &&
        once.path.startsWith('/') &&
        !/(^|\/)\.\.?(\/|$)/.test(once.path) &&
        !once.path.includes('\\') &&
        !/%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DdEe]|5[Ff]|7[Ee])/.test(once.path) &&
        !/%[0-9A-F]?[a-f]/.test(once.path)
      );
    }),
    { numRuns: numRuns(5000) },
  );
  t.pass();
});

test('a path that climbs with .. never leaves the root, however it is encoded', (t) => {
  const climb = fc.array(fc.constantFrom('..', '%2e%2e', '.%2E', '%2E.'), { minLength: 1, maxLength: 6 });
  fc.assert(
    fc.property(climb, fc.array(fc.constantFrom('etc', 'passwd', 'x'), { maxLength: 3 }), (ups, rest) => {
      const result = normalizePath(`/${[...ups, ...rest].join('/')}`);
      return result.ok && result.path === `/${rest.join('/')}`;
    }),
    { numRuns: numRuns(1000) },
  );
  t.pass();
});

test('splitPathAndQuery: the path and query put back together are the target without its fragment', (t) => {
  fc.assert(
    fc.property(fc.string(), (target) => {
      const { path: pathPart, query } = splitPathAndQuery(target);
      const withoutFragment = target.split('#')[0] ?? '';
      const rebuilt = withoutFragment.includes('?') ? `${pathPart}?${query}` : pathPart;
      return rebuilt === withoutFragment && !pathPart.includes('?') && !pathPart.includes('#') && !query.includes('#');
    }),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});
