/**
 * The signing key folder as a mounted Kubernetes Secret holds it: PEM and
 * JWK files, hidden `..data` entries, keys named by file or by their own
 * `kid`; unusable keys are refused naming the file, never quoting it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ValidationError } from '../../../gateway/errors.js';
import { loadSigningKeys } from '../../../services/token-exchange/index.js';
import { writeSigningKey } from '../../helpers/token-exchange.js';

async function folder(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'te-keys-'));
}

test('PEM and JWK keys, hidden entries skipped; every key published, the active one signs', async (t) => {
  const dir = await folder();
  await writeSigningKey(dir, 'old', 'ES256');
  await writeSigningKey(dir, 'new', 'EdDSA');
  await mkdir(path.join(dir, '..2026_05_01'));
  await writeFile(path.join(dir, 'README.txt'), 'not a key');
  const keys = await loadSigningKeys(dir, 'new');
  t.is(keys.active.kid, 'new');
  t.is(keys.active.alg, 'EdDSA');
  t.deepEqual(keys.jwks.keys.map((key) => [key.kid, key.alg, key.use]).sort(), [
    ['new', 'EdDSA', 'sig'],
    ['old', 'ES256', 'sig'],
  ]);
  t.true(keys.jwks.keys.every((key) => key.d === undefined));
});

test("a JWK's own kid wins over its file name", async (t) => {
  const dir = await folder();
  const { privateKey } = generateKeyPairSync('ed25519');
  await writeFile(path.join(dir, 'signing.json'), JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'from-jwk' }));
  t.is((await loadSigningKeys(dir, 'from-jwk')).active.kid, 'from-jwk');
});

const refused: [name: string, write: (dir: string) => Promise<void>, problem: RegExp][] = [
  ['the active kid is missing', (dir) => writeSigningKey(dir, 'k1', 'ES256'), /no key with the active kid 'k2'/],
  [
    'an RSA key',
    async (dir) => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await writeFile(path.join(dir, 'k2.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    },
    /not an EC P-256 \(ES256\) or Ed25519 \(EdDSA\) private key/,
  ],
  [
    'a P-384 key',
    async (dir) => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      await writeFile(path.join(dir, 'k2.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    },
    /not an EC P-256/,
  ],
  [
    'a public key only',
    (dir) => writeFile(path.join(dir, 'k2.pem'), generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' })),
    /not a readable private key/,
  ],
  [
    'two files with one kid',
    async (dir) => {
      await writeSigningKey(dir, 'k2', 'ES256');
      const { privateKey } = generateKeyPairSync('ed25519');
      await writeFile(path.join(dir, 'other.json'), JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'k2' }));
    },
    /used by two files/,
  ],
];

for (const [name, write, problem] of refused) {
  test(`refused: ${name}`, async (t) => {
    const dir = await folder();
    await write(dir);
    const error = await t.throwsAsync(loadSigningKeys(dir, 'k2'), { instanceOf: ValidationError });
    t.regex(error?.message ?? '', problem);
    t.notRegex(error?.message ?? '', /PRIVATE KEY-----|"d":/);
  });
}
