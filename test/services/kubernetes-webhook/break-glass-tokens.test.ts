/**
 * Break-glass token entries, inline and from a file mounted from a Secret:
 * digests only, unique names and digests, a user for each; one row per
 * mistake, each naming its field.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { FieldReader } from '../../../gateway/config/load.js';
import { ValidationError } from '../../../gateway/errors.js';
import { readBreakGlassTokens, readBreakGlassTokensFile } from '../../../services/kubernetes-webhook/break-glass-tokens.js';

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');
const A = digest('token a');
const B = digest('token b');

function read(value: unknown) {
  return readBreakGlassTokens(new FieldReader('webhook.yaml'), value, 'breakGlassTokens');
}

test('entries: the digest as bytes, the user with defaults', (t) => {
  const [admin, auditor] = read([
    { name: 'admin-1', sha256: A.toUpperCase(), user: { username: 'break-glass:admin', uid: 'bg-1', groups: ['system:masters'] } },
    {
      name: 'auditor',
      sha256: B,
      user: { username: 'break-glass:auditor', extra: { 'example.com/reason': 'incident', 'example.com/x': ['a', 'b'] } },
    },
  ]);
  t.deepEqual(admin, {
    name: 'admin-1',
    sha256: Buffer.from(A, 'hex'),
    user: { username: 'break-glass:admin', uid: 'bg-1', groups: ['system:masters'], extra: {} },
  });
  t.deepEqual(auditor?.user, {
    username: 'break-glass:auditor',
    groups: [],
    extra: { 'example.com/reason': ['incident'], 'example.com/x': ['a', 'b'] },
  });
});

const invalid: [name: string, value: unknown, field: string][] = [
  ['not a list', { name: 'a' }, 'breakGlassTokens'],
  ['name missing', [{ sha256: A, user: { username: 'u' } }], 'breakGlassTokens[0].name'],
  ['name with a space', [{ name: 'a b', sha256: A, user: { username: 'u' } }], 'breakGlassTokens[0].name'],
  ['digest missing', [{ name: 'a', user: { username: 'u' } }], 'breakGlassTokens[0].sha256'],
  ['digest too short', [{ name: 'a', sha256: A.slice(2), user: { username: 'u' } }], 'breakGlassTokens[0].sha256'],
  ['digest that is not hex', [{ name: 'a', sha256: 'z'.repeat(64), user: { username: 'u' } }], 'breakGlassTokens[0].sha256'],
  ['user missing', [{ name: 'a', sha256: A }], 'breakGlassTokens[0].user'],
  ['username missing', [{ name: 'a', sha256: A, user: { groups: ['g'] } }], 'breakGlassTokens[0].user.username'],
  ['unknown user field', [{ name: 'a', sha256: A, user: { username: 'u', group: 'g' } }], 'breakGlassTokens[0].user.group'],
  ['unknown entry field', [{ name: 'a', sha256: A, token: 'x', user: { username: 'u' } }], 'breakGlassTokens[0].token'],
  [
    'the same name twice',
    [
      { name: 'a', sha256: A, user: { username: 'u' } },
      { name: 'a', sha256: B, user: { username: 'u' } },
    ],
    'breakGlassTokens[1].name',
  ],
  [
    'the same digest twice',
    [
      { name: 'a', sha256: A, user: { username: 'u' } },
      { name: 'b', sha256: A.toUpperCase(), user: { username: 'v' } },
    ],
    'breakGlassTokens[1].sha256',
  ],
];

for (const [name, value, field] of invalid) {
  test(`invalid: ${name} → ${field}`, (t) => {
    const error = t.throws(() => read(value), { instanceOf: ValidationError });
    t.is(error?.field, field, error?.message);
  });
}

test('a digest that does not read is not echoed in the error', (t) => {
  const almost = `${A.slice(0, 63)}g`;
  const error = t.throws(() => read([{ name: 'a', sha256: almost, user: { username: 'u' } }]), { instanceOf: ValidationError });
  t.false(error?.message.includes(almost));
});

test('from a file: the list as YAML; an empty file is no tokens; errors name the file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-break-glass-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tokens.yaml');

  await writeFile(file, `- name: admin-1\n  sha256: ${A}\n  user: { username: "break-glass:admin", groups: ["system:masters"] }\n`);
  const [entry] = await readBreakGlassTokensFile(file);
  t.is(entry?.name, 'admin-1');
  t.deepEqual(entry?.sha256, Buffer.from(A, 'hex'));

  await writeFile(file, '');
  t.deepEqual(await readBreakGlassTokensFile(file), []);

  await writeFile(file, `- name: admin-1\n  sha256: ${A}\n`);
  const missingUser = await t.throwsAsync(readBreakGlassTokensFile(file), { instanceOf: ValidationError });
  t.is(missingUser?.file, file);
  t.is(missingUser?.field, '[0].user');

  await writeFile(file, '- name: [unclosed\n');
  t.regex((await t.throwsAsync(readBreakGlassTokensFile(file), { instanceOf: ValidationError }))?.message ?? '', /not valid YAML/);

  const absent = await t.throwsAsync(readBreakGlassTokensFile(path.join(dir, 'absent.yaml')), { instanceOf: ValidationError });
  t.regex(absent?.message ?? '', /ENOENT/);
});
