/**
 * Properties of the API key format (gateway/identity/api-key.ts): every
 * generated key parses back to its id, and a key with any one character
 * changed to one outside its alphabet, or cut short, does not parse.
 */
import test from 'ava';
import fc from 'fast-check';
import { apiKeyLength, generateApiKey, isApiKeyId, parseApiKey } from '../../gateway/identity/api-key.js';
import { numRuns } from './runs.js';

test('a generated key parses back to its id; the same text with one character outside the alphabet, or cut, does not', (t) => {
  fc.assert(
    fc.property(fc.nat(), fc.constantFrom('=', '+', '/', ' ', '.', 'G', '\u00e9', '\u0000'), fc.nat(), (at, junk, cut) => {
      const { id, key } = generateApiKey();
      const parsed = parseApiKey(key);
      if (parsed?.id !== id || parsed.key !== key || !isApiKeyId(id) || key.length !== apiKeyLength) return false;
      const position = at % key.length;
      // 'G' is valid base64url in the secret, so it only breaks the prefix and the hex id.
      const breaks = junk !== 'G' || position < 4 + 16;
      const changed = key.slice(0, position) + junk + key.slice(position + 1);
      return (!breaks || parseApiKey(changed) === undefined) && parseApiKey(key.slice(0, cut % key.length)) === undefined;
    }),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});

test('random text never parses unless it has the exact key shape', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string({ minLength: 64, maxLength: 64 }).map((rest) => `ghk_${rest}`.slice(0, 64)),
      ),
      (text) => {
        const parsed = parseApiKey(text);
        return parsed === undefined || (/^ghk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(text) && parsed.id === text.slice(4, 20));
      },
    ),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});
