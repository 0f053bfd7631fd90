/**
 * API keys built by code for tests: a fresh key with its record, and key
 * files written to a temporary folder. Never checked-in secrets.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { generateApiKey, hashApiKey } from '../../gateway/identity/api-key.js';
import { storedApiKeyRecord, type ApiKeyRecord } from '../../gateway/identity/api-key-record.js';

export interface TestApiKey {
  /** The key as a caller presents it. */
  readonly key: string;
  readonly record: ApiKeyRecord;
}

/**
 * A new key and its record; `principal` defaults to `reminder`.
 *
 * @example
 * const { key, record } = newApiKey({ scopes: ['todos:read'], notAfter: Date.now() + 60_000 });
 */
export function newApiKey(fields: Partial<Omit<ApiKeyRecord, 'id' | 'sha256'>> = {}): TestApiKey {
  const { id, key } = generateApiKey();
  return { key, record: { principal: 'reminder', scopes: [], ...fields, id, sha256: hashApiKey(key) } };
}

/** The YAML of a key file holding `records`. */
export function keyFileText(records: readonly ApiKeyRecord[]): string {
  return stringify({ keys: records.map(storedApiKeyRecord) });
}

/** Writes a key file in a new temporary folder; returns its path. */
export async function writeKeyFile(records: readonly ApiKeyRecord[]): Promise<string> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'gatehouse-api-keys-')), 'keys.yaml');
  await writeFile(file, keyFileText(records));
  return file;
}
