/** Envoy/Istio default (BASE) path normalization, one row per rule. */
import test from 'ava';
import { normalizePath, splitPathAndQuery } from '../../../gateway/request/path.js';

const normalized: [name: string, raw: string, expected: string][] = [
  ['a plain path is unchanged', '/todos/1', '/todos/1'],
  ['".." removes the previous segment', '/a/../b', '/b'],
  ['"." is removed', '/a/./b', '/a/b'],
  ['%2e%2e is a dot segment once decoded', '/a/%2e%2e/b', '/b'],
  ['%2E (upper case) is a dot too', '/a/%2E/b', '/a/b'],
  ['mixed .%2e is a dot-dot segment', '/a/b/.%2e/c', '/a/c'],
  ['%2f is kept encoded, with upper-case hex', '/a%2fb', '/a%2Fb'],
  ['%5c is kept encoded, with upper-case hex', '/a%5cb', '/a%5Cb'],
  ['double slashes are kept', '//a//b', '//a//b'],
  ['a backslash becomes a slash', '\\a\\b', '/a/b'],
  ['backslashes take part in dot-segment removal', '/a\\..\\b', '/b'],
  ['%41 decodes to A', '/%41', '/A'],
  ['unreserved - _ ~ are decoded', '/%2D%5F%7E', '/-_~'],
  ['lower-case hex of reserved characters is upper-cased', '/a%3ab%20c', '/a%3Ab%20c'],
  ['%00 stays encoded', '/a%00', '/a%00'],
  ['traversal above the root stops at the root', '/../../etc/passwd', '/etc/passwd'],
  ['a trailing ".." leaves a trailing slash', '/a/b/..', '/a/'],
  ['a trailing "." leaves a trailing slash', '/a/.', '/a/'],
  ['the root stays the root', '/', '/'],
  ['".." right after the root is the root', '/..', '/'],
  ['dots inside a segment are not dot segments', '/a/..b/.c', '/a/..b/.c'],
  ['decoding happens once: %252e stays %252E', '/a/%252e%252e/b', '/a/%252e%252e/b'],
];

for (const [name, raw, expected] of normalized) {
  test(`normalizePath: ${name}`, (t) => {
    t.deepEqual(normalizePath(raw), { ok: true, path: expected });
  });
}

const refused: [name: string, raw: string, reason: RegExp][] = [
  ['invalid percent-encoding %zz', '/a%zz', /invalid percent-encoding/],
  ['a truncated percent-encoding', '/a%2', /invalid percent-encoding/],
  ['a NUL byte', '/a\u0000b', /control character/],
  ['a control character', '/a\tb', /control character/],
  ['DEL', '/a\u007f', /control character/],
  ['a raw space', '/a b', /control character or space/],
  ['raw non-ASCII', '/caf\u00e9', /non-ASCII/],
  ['a relative path', 'a/b', /must start with/],
  ['an empty path', '', /must start with/],
  ['an unsplit query', '/a?b=1', /query or fragment/],
];

for (const [name, raw, reason] of refused) {
  test(`normalizePath refuses ${name}`, (t) => {
    const result = normalizePath(raw);
    t.false(result.ok);
    if (!result.ok) t.regex(result.reason, reason);
  });
}

test('normalizePath: "%2e%2e" the path template scenario from the Istio normalization guide', (t) => {
  t.deepEqual(normalizePath('/public/%2E%2E/admin/%2e/users'), { ok: true, path: '/admin/users' });
});

const splits: [raw: string, path: string, query: string][] = [
  ['/a/b', '/a/b', ''],
  ['/a/b?x=1&y=2', '/a/b', 'x=1&y=2'],
  ['/a?x=1?y=2', '/a', 'x=1?y=2'],
  ['/a#frag', '/a', ''],
  ['/a?x=1#frag', '/a', 'x=1'],
  ['/a#frag?x=1', '/a', ''],
  ['/a%3Fb?c=%3F', '/a%3Fb', 'c=%3F'],
  ['/a?', '/a', ''],
];

for (const [raw, path, query] of splits) {
  test(`splitPathAndQuery(${JSON.stringify(raw)})`, (t) => {
    t.deepEqual(splitPathAndQuery(raw), { path, query });
  });
}
