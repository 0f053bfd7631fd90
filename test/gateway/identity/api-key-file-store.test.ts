/**
 * Key files on a real file system: strict reading, reload on change
 * (including a Kubernetes-style symlink swap), refusal of a bad version, and
 * the edits `gatehouse api-key --file` makes.
 */
import { mkdir, mkdtemp, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import { ApiKeyFile, ApiKeyFileStore, parseApiKeyFile } from '../../../gateway/identity/api-key-file-store.js';
import { storedApiKeyRecord } from '../../../gateway/identity/api-key-record.js';
import { keyFileText, newApiKey, writeKeyFile } from '../../helpers/api-keys.js';
import { eventually, silentLog } from '../cache/fixtures.js';

test('a key file is read into records by id', (t) => {
  const a = newApiKey();
  const b = newApiKey({ principal: 'share', scopes: ['todos:read'] });
  const records = parseApiKeyFile(keyFileText([a.record, b.record]), 'keys.yaml');
  t.deepEqual([...records.keys()], [a.record.id, b.record.id]);
  t.deepEqual(records.get(b.record.id)?.scopes, ['todos:read']);
  t.is(parseApiKeyFile('', 'keys.yaml').size, 0, 'an empty file holds no keys');
});

const invalid: [string, () => string, RegExp][] = [
  ['not YAML', () => 'keys: [', /keys\.yaml: not valid YAML/],
  ['an unknown top-level field', () => 'keys: []\nsecrets: []\n', /keys\.yaml secrets: unknown field/],
  ['keys that are not a list', () => 'keys: {}\n', /keys\.yaml keys: must be a list/],
  [
    'a bad record, named by index and field',
    () => keyFileText([newApiKey().record, { ...newApiKey().record, sha256: Buffer.alloc(16) }]),
    /keys\.yaml keys\[1\]\.sha256: must be the base64url SHA-256/,
  ],
  [
    'an id twice',
    () => {
      const a = newApiKey();
      return keyFileText([a.record, { ...newApiKey().record, id: a.record.id }]);
    },
    /keys\.yaml keys\[1\]\.id: [0-9a-f]{16} appears twice/,
  ],
  ['aliases', () => `keys:\n  - &a ${JSON.stringify(storedApiKeyRecord(newApiKey().record))}\n  - *a\n`, /keys\.yaml: not a key file/],
];
for (const [name, text, message] of invalid) {
  test(`refused: ${name}`, (t) => {
    const error = t.throws(() => parseApiKeyFile(text(), 'keys.yaml'), { instanceOf: ValidationError });
    t.regex(error?.message ?? '', message);
  });
}

test('start-up fails on a missing or invalid key file', async (t) => {
  await t.throwsAsync(ApiKeyFileStore.open('/nonexistent/keys.yaml', silentLog), { message: /cannot read the file: ENOENT/ });
  const file = await writeKeyFile([]);
  await writeFile(file, 'keys: 3\n');
  await t.throwsAsync(ApiKeyFileStore.open(file, silentLog), { instanceOf: ValidationError });
});

test('a watched file is reloaded when it changes; a bad version is refused and the last good keys stay', async (t) => {
  const a = newApiKey();
  const b = newApiKey();
  const file = await writeKeyFile([a.record]);
  const store = await ApiKeyFileStore.open(file, silentLog);
  t.teardown(() => store.close());
  let reloads = 0;
  store.onReload(() => reloads++);
  store.watch();
  await writeFile(file, keyFileText([a.record, b.record]));
  await eventually(() => store.find(b.record.id).kind === 'found', 5000);
  t.is(reloads, 1);
  await writeFile(file, 'keys: [');
  t.false(await store.reload());
  t.is(store.find(a.record.id).kind, 'found');
  t.is(store.find(b.record.id).kind, 'found');
});

test('a Kubernetes Secret update (the ..data symlink swapped) is picked up', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-secret-'));
  const a = newApiKey();
  const b = newApiKey();
  // What kubelet writes: ..<timestamp>/keys.yaml, ..data -> ..<timestamp>, keys.yaml -> ..data/keys.yaml.
  const version = async (name: string, text: string): Promise<void> => {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'keys.yaml'), text);
    await symlink(name, path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  };
  await version('..2026_02_01_v1', keyFileText([a.record]));
  await symlink('..data/keys.yaml', path.join(dir, 'keys.yaml'));
  const store = await ApiKeyFileStore.open(path.join(dir, 'keys.yaml'), silentLog);
  t.teardown(() => store.close());
  store.watch();
  await version('..2026_02_01_v2', keyFileText([b.record]));
  await eventually(() => store.find(b.record.id).kind === 'found', 5000);
  t.is(store.find(a.record.id).kind, 'absent');
});

test('api-key --file edits: create adds a record (creating the file), revoke marks it, comments survive, list reads back', async (t) => {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'gatehouse-keys-')), 'keys.yaml');
  const keys = new ApiKeyFile(file);
  const a = newApiKey({ notAfter: Date.parse('2027-01-01T00:00:00Z') });
  const b = newApiKey({ principal: 'share' });
  await keys.create(a.record);
  await writeFile(file, `# rotated quarterly, ticket OPS-12\n${await readFile(file, 'utf8')}`);
  await keys.create(b.record);
  await t.throwsAsync(keys.create(a.record), { message: /exists already/ });
  const revoked = await keys.revoke(a.record.id, Date.parse('2026-02-01T00:00:00Z'));
  t.is(revoked?.revokedAt, Date.parse('2026-02-01T00:00:00Z'));
  t.is(await keys.revoke('0000000000000000', Date.now()), undefined);

  const text = await readFile(file, 'utf8');
  t.true(text.includes('# rotated quarterly, ticket OPS-12'));
  t.false(text.includes(a.key) || text.includes(b.key), 'the file holds hashes only');
  const records = parseApiKeyFile(text, file);
  t.is(records.get(a.record.id)?.revokedAt, Date.parse('2026-02-01T00:00:00Z'));
  t.is(records.get(b.record.id)?.principal, 'share');
  t.deepEqual(
    (await keys.list()).map((record) => record.id),
    [a.record.id, b.record.id].sort(),
  );
});
