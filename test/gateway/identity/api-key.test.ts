/**
 * The API key format: generation, parsing, hashing and the constant-time
 * comparison.
 */
import { timingSafeEqual } from 'node:crypto';
import test from 'ava';
import { apiKeyLength, apiKeyMatches, generateApiKey, hashApiKey, isApiKeyId, parseApiKey } from '../../../gateway/identity/api-key.js';

test('a generated key is ghk_<16 hex id>_<256-bit base64url secret> and parses back to its id', (t) => {
  const { id, key } = generateApiKey();
  t.regex(key, /^ghk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  t.is(key.length, apiKeyLength);
  t.true(isApiKeyId(id));
  t.is(Buffer.from(key.slice(key.indexOf('_', 4) + 1), 'base64url').length, 32, '256 bits of secret');
  t.deepEqual(parseApiKey(key), { id, key });
});

test('generated keys and ids do not repeat', (t) => {
  const keys = Array.from({ length: 2000 }, () => generateApiKey());
  t.is(new Set(keys.map((k) => k.id)).size, keys.length);
  t.is(new Set(keys.map((k) => k.key)).size, keys.length);
});

const secret = generateApiKey().key.slice(21);
const valid = `ghk_0123456789abcdef_${secret}`;
const malformed: [string, string][] = [
  ['empty', ''],
  ['the well-formed key itself, with a space inside', valid.replace('_', ' ')],
  ['no prefix', valid.slice(4)],
  ['another prefix', `ghp_${valid.slice(4)}`],
  ['upper-case id', `ghk_0123456789ABCDEF_${secret}`],
  ['id too short', `ghk_${valid.slice(5)}`],
  ['secret one character short', valid.slice(0, -1)],
  ['secret one character long', `${valid}A`],
  ['secret with a character outside base64url', `${valid.slice(0, -1)}+`],
  ['a JWT', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'],
  ['surrounding space', ` ${valid}`],
];
test('the key the malformed cases start from is well formed', (t) => {
  t.is(parseApiKey(valid)?.id, '0123456789abcdef');
});

for (const [name, text] of malformed) {
  test(`malformed: ${name}`, (t) => {
    t.is(parseApiKey(text), undefined);
  });
}

test('only the SHA-256 of the whole key is what is compared', (t) => {
  const { key } = generateApiKey();
  t.is(hashApiKey(key).length, 32);
  t.true(apiKeyMatches(key, hashApiKey(key)));
  const other = generateApiKey().key;
  t.false(apiKeyMatches(other, hashApiKey(key)));
});

test('the comparison runs timingSafeEqual on equal-length buffers, also for a wrong secret with the right id', (t) => {
  const { id, key } = generateApiKey();
  const stored = hashApiKey(key);
  const wrongSecret = `ghk_${id}_${generateApiKey().key.slice(21)}`;
  t.is(parseApiKey(wrongSecret)?.id, id);
  const calls: [number, number][] = [];
  const recording = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
    calls.push([a.byteLength, b.byteLength]);
    return timingSafeEqual(a, b);
  };
  t.false(apiKeyMatches(wrongSecret, stored, recording));
  t.true(apiKeyMatches(key, stored, recording));
  t.deepEqual(calls, [
    [32, 32],
    [32, 32],
  ]);
});

test('a stored hash of another length never matches and never reaches timingSafeEqual (which would throw)', (t) => {
  const { key } = generateApiKey();
  let called = false;
  t.false(
    apiKeyMatches(key, hashApiKey(key).subarray(0, 31), () => {
      called = true;
      return true;
    }),
  );
  t.false(called);
});
