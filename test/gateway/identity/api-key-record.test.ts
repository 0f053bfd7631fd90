/**
 * Stored API-key records: read strictly, written back the same, and the
 * state of a key at a moment.
 */
import test from 'ava';
import { apiKeyState, readApiKeyRecord, storedApiKeyRecord, type ApiKeyState } from '../../../gateway/identity/api-key-record.js';
import { newApiKey } from '../../helpers/api-keys.js';

const base = (): Record<string, unknown> =>
  storedApiKeyRecord(
    newApiKey({
      scopes: ['todos:read'],
      notBefore: Date.parse('2026-01-01T00:00:00Z'),
      notAfter: Date.parse('2026-04-01T00:00:00Z'),
      createdAt: Date.parse('2025-12-31T00:00:00Z'),
      description: 'reminder, Q1 rotation',
    }).record,
  );

test('a stored record reads back to the same record', (t) => {
  const stored = base();
  const reading = readApiKeyRecord(stored);
  if (!reading.ok) return t.fail(reading.problem);
  t.deepEqual(storedApiKeyRecord(reading.record), stored);
  t.is(reading.record.notAfter, Date.parse('2026-04-01T00:00:00Z'));
  t.deepEqual(reading.record.scopes, ['todos:read']);
});

const refused: [string, (record: Record<string, unknown>) => void, string][] = [
  ['an unknown field', (r) => (r.secret = 'x'), 'secret'],
  ['an id that is not 16 hex characters', (r) => (r.id = 'ABCDEF0123456789'), 'id'],
  ['a principal with a space', (r) => (r.principal = 'reminder service'), 'principal'],
  ['a principal with a wildcard', (r) => (r.principal = 'remind*'), 'principal'],
  ['a principal with a newline (header injection)', (r) => (r.principal = 'a\r\nx-admin: 1'), 'principal'],
  ['no principal', (r) => delete r.principal, 'principal'],
  ['a scope with a space', (r) => (r.scopes = ['todos read']), 'scopes[0]'],
  ['scopes that are not a list', (r) => (r.scopes = 'todos:read'), 'scopes'],
  ['a hash of 31 bytes', (r) => (r.sha256 = Buffer.alloc(31).toString('base64url')), 'sha256'],
  ['a hash in base64 with padding', (r) => (r.sha256 = Buffer.alloc(32).toString('base64')), 'sha256'],
  ['no hash', (r) => delete r.sha256, 'sha256'],
  ['a time without a zone', (r) => (r.notAfter = '2026-04-01T00:00:00'), 'notAfter'],
  ['a date only', (r) => (r.notBefore = '2026-01-01'), 'notBefore'],
  ['a time in seconds', (r) => (r.notAfter = 1767225600), 'notAfter'],
  ['a window that ends before it starts', (r) => (r.notAfter = '2025-06-01T00:00:00Z'), 'notAfter'],
  ['a description with a control character', (r) => (r.description = 'a\u0007b'), 'description'],
];
for (const [name, change, field] of refused) {
  test(`refused: ${name}`, (t) => {
    const stored = base();
    change(stored);
    const reading = readApiKeyRecord(stored);
    t.false(reading.ok);
    if (!reading.ok) t.is(reading.field, field);
  });
}

test('not a mapping is refused', (t) => {
  for (const value of [null, 'x', [], 42]) t.false(readApiKeyRecord(value).ok);
});

const at = (iso: string) => Date.parse(iso);
const states: [string, number, boolean, ApiKeyState][] = [
  ['before notBefore', at('2025-12-31T23:59:59Z'), false, 'not-yet-valid'],
  ['at notBefore', at('2026-01-01T00:00:00Z'), false, 'valid'],
  ['inside the window', at('2026-02-01T00:00:00Z'), false, 'valid'],
  ['at notAfter', at('2026-04-01T00:00:00Z'), false, 'expired'],
  ['revoked by another replica, inside the window', at('2026-02-01T00:00:00Z'), true, 'revoked'],
  ['revoked and expired: revoked comes first', at('2026-05-01T00:00:00Z'), true, 'revoked'],
];
for (const [name, now, revokedElsewhere, expected] of states) {
  test(`state ${name}: ${expected}`, (t) => {
    const reading = readApiKeyRecord(base());
    if (!reading.ok) return t.fail(reading.problem);
    t.is(apiKeyState(reading.record, now, revokedElsewhere), expected);
  });
}

test('a record with revokedAt is revoked, even when the date is in the future', (t) => {
  const { record } = newApiKey({ revokedAt: Date.now() + 86_400_000 });
  t.is(apiKeyState(record, Date.now()), 'revoked');
});
