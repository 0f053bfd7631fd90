/**
 * The API-key stage over a real key file: use, rotation, expiry, revocation
 * (in the record and through the revocation mirror), wrong and malformed
 * keys, the constant-time comparison, and what the in-process cache costs.
 */
import { timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import test from 'ava';
import type { AuthenticationResult } from '../../../gateway/authorizer.js';
import { RevocationService } from '../../../gateway/cache/revocation.js';
import { ApiKeyAuthenticator, type ApiKeyAuthenticatorOptions } from '../../../gateway/identity/api-key-authenticator.js';
import { ApiKeyFileStore } from '../../../gateway/identity/api-key-file-store.js';
import type { ApiKeyRecord } from '../../../gateway/identity/api-key-record.js';
import type { ApiKeyLookup, ApiKeyStore } from '../../../gateway/identity/api-key-store.js';
import { newApiKey, keyFileText, writeKeyFile, type TestApiKey } from '../../helpers/api-keys.js';
import { checkInput } from '../../helpers/check-input.js';
import { ManualClock, silentLog } from '../cache/fixtures.js';

const HOUR = 3_600_000;

interface Stage {
  readonly authenticator: ApiKeyAuthenticator;
  readonly clock: ManualClock;
  readonly revocation: RevocationService;
  readonly store: ApiKeyFileStore;
  /** Store lookups so far. */
  readonly lookups: () => number;
  readonly check: (key: string, header?: string) => Promise<AuthenticationResult>;
}

async function stage(records: readonly ApiKeyRecord[], options: Partial<ApiKeyAuthenticatorOptions> = {}): Promise<Stage> {
  const clock = new ManualClock(Date.parse('2026-02-01T00:00:00Z'));
  const store = await ApiKeyFileStore.open(await writeKeyFile(records), silentLog);
  let lookups = 0;
  const counting: ApiKeyStore = {
    find: (id: string): ApiKeyLookup | Promise<ApiKeyLookup> => {
      lookups++;
      return store.find(id);
    },
  };
  const revocation = new RevocationService({ log: silentLog, now: clock.now });
  const authenticator = new ApiKeyAuthenticator({
    store: counting,
    locations: {
      headers: [
        { name: 'x-api-key', prefix: '' },
        { name: 'authorization', prefix: 'ApiKey ' },
      ],
    },
    revocation,
    now: clock.now,
    ...options,
  });
  store.onReload(() => authenticator.clear());
  return {
    authenticator,
    clock,
    revocation,
    store,
    lookups: () => lookups,
    check: (key, header = 'x-api-key') =>
      authenticator.authenticate(checkInput({ headers: { [header]: header === 'authorization' ? `ApiKey ${key}` : key } })),
  };
}

function codeOf(result: AuthenticationResult): string {
  return result.kind === 'rejected' ? result.code : result.kind;
}

const at = (iso: string) => Date.parse(iso);

test('a valid key gives the service principal under the API-key issuer, its scopes, and never reaches the upstream', async (t) => {
  const reminder = newApiKey({ scopes: ['todos:read', 'todos:list'] });
  const { check } = await stage([reminder.record]);
  const result = await check(reminder.key, 'authorization');
  if (result.kind !== 'authenticated') return t.fail(JSON.stringify(result));
  t.is(result.auth.principal, 'gatehouse.dev/api-key/reminder');
  t.is(result.auth.credential, 'api-key');
  t.deepEqual(result.auth.claims, {
    iss: 'gatehouse.dev/api-key',
    sub: 'reminder',
    key_id: reminder.record.id,
    scope: ['todos:read', 'todos:list'],
  });
  t.deepEqual(result.effects.upstreamHeadersToRemove, ['authorization']);
  t.false(JSON.stringify(result).includes(reminder.key));
});

test('the issuer is configurable', async (t) => {
  const reminder = newApiKey();
  const { check } = await stage([reminder.record], { issuer: 'keys.example.com' });
  const result = await check(reminder.key);
  t.is(result.kind === 'authenticated' ? result.auth.principal : '', 'keys.example.com/reminder');
});

test('rotation: old and new keys of one principal are both valid while their windows overlap, then only the new one', async (t) => {
  const old = newApiKey({ notAfter: at('2026-02-08T00:00:00Z') });
  const next = newApiKey({ notBefore: at('2026-02-01T00:00:00Z'), notAfter: at('2026-05-01T00:00:00Z') });
  const { check, clock } = await stage([old.record, next.record]);
  t.is(codeOf(await check(old.key)), 'authenticated');
  t.is(codeOf(await check(next.key)), 'authenticated');
  clock.ms = at('2026-02-08T00:00:00Z');
  t.is(codeOf(await check(old.key)), 'APIKEY_EXPIRED');
  t.is(codeOf(await check(next.key)), 'authenticated');
});

test('a key is refused before its notBefore and from its notAfter on', async (t) => {
  const later = newApiKey({ notBefore: at('2026-03-01T00:00:00Z') });
  const ended = newApiKey({ notBefore: at('2026-01-01T00:00:00Z'), notAfter: at('2026-01-31T00:00:00Z') });
  const { check, clock } = await stage([later.record, ended.record]);
  const early = await check(later.key);
  t.is(codeOf(early), 'APIKEY_NOT_YET_VALID');
  t.regex(early.kind === 'rejected' ? early.reason : '', /not valid before 2026-03-01T00:00:00.000Z/);
  t.is(codeOf(await check(ended.key)), 'APIKEY_EXPIRED');
  clock.ms = at('2026-03-01T00:00:00Z');
  t.is(codeOf(await check(later.key)), 'authenticated');
});

test('a key revoked in its record is refused', async (t) => {
  const revoked = newApiKey({ revokedAt: at('2026-01-15T00:00:00Z') });
  const { check } = await stage([revoked.record]);
  t.is(codeOf(await check(revoked.key)), 'APIKEY_REVOKED');
});

test('a revocation published by id is refused at once, cached or not, while the other key of the principal keeps working', async (t) => {
  const old = newApiKey();
  const next = newApiKey();
  const { check, revocation, authenticator } = await stage([old.record, next.record]);
  t.is(codeOf(await check(old.key)), 'authenticated');
  t.is(authenticator.stats().entries, 1);
  await revocation.revokeApiKey(old.record.id, Date.parse('2026-03-01T00:00:00Z'));
  t.is(authenticator.stats().entries, 0, 'the revocation dropped the cached record');
  t.is(codeOf(await check(old.key)), 'APIKEY_REVOKED');
  t.is(codeOf(await check(next.key)), 'authenticated');
});

test('a wrong secret with the right id is invalid, compared in constant time on equal-length buffers', async (t) => {
  const reminder = newApiKey();
  const calls: [number, number][] = [];
  const { check } = await stage([reminder.record], {
    equal: (a, b) => {
      calls.push([a.byteLength, b.byteLength]);
      return timingSafeEqual(a, b);
    },
  });
  const wrongSecret = `${reminder.key.slice(0, 21)}${newApiKey().key.slice(21)}`;
  t.not(wrongSecret, reminder.key);
  const result = await check(wrongSecret);
  t.is(codeOf(result), 'APIKEY_INVALID');
  t.deepEqual(calls, [[32, 32]]);
  t.is(codeOf(await check(reminder.key)), 'authenticated');
  t.deepEqual(calls, [
    [32, 32],
    [32, 32],
  ]);
});

test('knowing an id tells nothing: a wrong secret for a revoked or expired key is just invalid', async (t) => {
  const revoked = newApiKey({ revokedAt: at('2026-01-15T00:00:00Z') });
  const expired = newApiKey({ notAfter: at('2026-01-15T00:00:00Z') });
  const { check } = await stage([revoked.record, expired.record]);
  for (const { key } of [revoked, expired]) t.is(codeOf(await check(`${key.slice(0, 21)}${newApiKey().key.slice(21)}`)), 'APIKEY_INVALID');
});

test('unknown ids are invalid and malformed keys are refused without a lookup', async (t) => {
  const { check, lookups } = await stage([newApiKey().record]);
  t.is(codeOf(await check(newApiKey().key)), 'APIKEY_INVALID');
  t.is(lookups(), 1);
  for (const malformed of ['hunter2', 'ghk_short', `${newApiKey().key}x`]) t.is(codeOf(await check(malformed)), 'APIKEY_MALFORMED');
  t.is(lookups(), 1);
});

test('a request without a key is anonymous; a key in the query is refused', async (t) => {
  const reminder = newApiKey();
  const { authenticator } = await stage([reminder.record]);
  t.is(codeOf(await authenticator.authenticate(checkInput())), 'anonymous');
  t.is(codeOf(await authenticator.authenticate(checkInput({ query: `api_key=${reminder.key}` }))), 'APIKEY_IN_QUERY');
});

test('verified keys are cached: a miss costs one lookup, hits none, concurrent misses share one', async (t) => {
  const reminder = newApiKey();
  const { check, lookups, clock } = await stage([reminder.record], { cache: { maxTtlMs: 60_000 } });
  const results = await Promise.all(Array.from({ length: 20 }, () => check(reminder.key)));
  t.true(results.every((result) => result.kind === 'authenticated'));
  t.is(lookups(), 1);
  for (let i = 0; i < 100; i++) await check(reminder.key);
  t.is(lookups(), 1);
  clock.advance(60_001);
  await check(reminder.key);
  t.is(lookups(), 2, 'an entry lives at most maxTtlMs');
});

test('a cached entry never outlives the key: at notAfter the key is expired, cached or not', async (t) => {
  const reminder = newApiKey({ notAfter: at('2026-02-01T00:00:02Z') });
  const { check, clock, authenticator } = await stage([reminder.record], { cache: { maxTtlMs: HOUR } });
  t.is(codeOf(await check(reminder.key)), 'authenticated');
  clock.ms = at('2026-02-01T00:00:02Z');
  t.is(codeOf(await check(reminder.key)), 'APIKEY_EXPIRED');
  t.is(authenticator.stats().entries, 0, 'the expired key is not cached');
});

test('while the revocation feed is down, old entries are read from the store again', async (t) => {
  const reminder = newApiKey();
  let connected = true;
  const view = new RevocationService({ log: silentLog });
  const { check, lookups, clock } = await stage([reminder.record], {
    revocation: {
      isApiKeyRevoked: (id) => view.isApiKeyRevoked(id),
      onApiKeyRevocation: (listener) => view.onApiKeyRevocation(listener),
      connected: () => connected,
    },
    cache: { maxTtlMs: HOUR, maxAgeWhileDisconnectedMs: 5000 },
  });
  await check(reminder.key);
  connected = false;
  clock.advance(4000);
  await check(reminder.key);
  t.is(lookups(), 1);
  clock.advance(2000);
  await check(reminder.key);
  t.is(lookups(), 2);
});

test('a changed key file takes effect on reload: removed keys are refused, added keys accepted', async (t) => {
  const kept = newApiKey();
  const removed = newApiKey();
  const { check, store } = await stage([kept.record, removed.record]);
  t.is(codeOf(await check(removed.key)), 'authenticated');
  const added: TestApiKey = newApiKey({ principal: 'share' });
  await writeFile(store.file, keyFileText([kept.record, added.record]));
  t.true(await store.reload());
  t.is(codeOf(await check(removed.key)), 'APIKEY_INVALID');
  t.is(codeOf(await check(kept.key)), 'authenticated');
  const result = await check(added.key);
  t.is(result.kind === 'authenticated' ? result.auth.principal : '', 'gatehouse.dev/api-key/share');
});
