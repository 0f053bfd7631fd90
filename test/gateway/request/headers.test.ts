import test from 'ava';
import { collectHeaders } from '../../../gateway/request/headers.js';

const limits = { maxHeaderCount: 10, maxHeaderBytes: 1024 };

test('lower-cases names and joins repeated headers with a comma', (t) => {
  const result = collectHeaders(
    { 'X-A': '1' },
    [
      { key: 'x-a', value: '2' },
      { key: 'X-B', value: 'b' },
    ],
    limits,
  );
  t.true(result.ok);
  if (!result.ok) return;
  t.is(result.headers.get('x-a'), '1,2');
  t.is(result.headers.get('x-b'), 'b');
});

test('reads raw_value bytes as UTF-8 (encode_raw_headers)', (t) => {
  const result = collectHeaders(undefined, [{ key: ':authority', raw_value: Buffer.from('tödo.example') }], limits);
  t.true(result.ok && result.headers.get(':authority') === 'tödo.example');
});

const rejected: [string, Parameters<typeof collectHeaders>[0], Parameters<typeof collectHeaders>[1], RegExp][] = [
  ['invalid UTF-8 in raw_value', undefined, [{ key: 'x', raw_value: Buffer.from([0xc3, 0x28]) }], /not valid UTF-8/],
  ['replacement character from a string field', { x: 'a\uFFFDb' }, undefined, /not valid UTF-8/],
  ['name that is not a token', { 'bad name': 'v' }, undefined, /not a valid HTTP token/],
  ['empty name', undefined, [{ key: '', value: 'v' }], /not a valid HTTP token/],
  ['CR/LF in a value', { x: 'a\r\nset-cookie: y' }, undefined, /control character/],
  ['too many headers', Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`h${i}`, 'v'])), undefined, /more than 10 headers/],
  ['too many bytes', { big: 'x'.repeat(2000) }, undefined, /larger than 1024 bytes/],
];

for (const [name, map, list, reason] of rejected) {
  test(`rejects ${name}`, (t) => {
    const result = collectHeaders(map, list, limits);
    t.false(result.ok);
    if (!result.ok) t.regex(result.reason, reason);
  });
}
