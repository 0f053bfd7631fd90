/**
 * What every Gatehouse configuration file shares (gatehouse.yaml and the
 * companion services' files): reading it, parsing its YAML strictly, and the
 * key-set settings each of them has.
 */
import { readFile } from 'node:fs/promises';
import type { JSONWebKeySet } from 'jose';
import { parseDocument } from 'yaml';
import { ValidationError } from '../errors.js';
import { checkJwks } from '../identity/index.js';
import type { FieldReader } from './load.js';

/** Configuration files larger than this are refused before parsing. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The text of a configuration file.
 *
 * @throws ValidationError naming the file when it cannot be read.
 */
export async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError(file, undefined, '', `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * The YAML of a configuration file as plain data (an empty file is `{}`):
 * duplicate keys, oversized files and YAML errors are refused.
 *
 * @throws ValidationError naming the file.
 * @example
 * const root = r.object(parseConfigYaml(text, file), '', ROOT_FIELDS);
 */
export function parseConfigYaml(text: string, file: string): unknown {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new ValidationError(file, undefined, '', `larger than ${MAX_CONFIG_BYTES} bytes`);
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(file, undefined, '', `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  return (doc.toJS() as unknown) ?? {};
}

/** How key sets are fetched and kept (gateway/identity/jwks.ts). */
export interface JwksSettings {
  readonly fetchTimeoutMs: number;
  readonly refreshIntervalSeconds: number;
  readonly unknownKidCooldownSeconds: number;
  readonly maxStaleSeconds: number;
}

/** Reads a `jwks` section (`field` names it in errors, e.g. `jwt.jwks` or `jwks`); absent fields take the defaults. */
export function readJwksSettings(r: FieldReader, value: unknown, field: string): JwksSettings {
  const jwks = r.object(value ?? {}, field, ['fetchTimeoutMs', 'refreshIntervalSeconds', 'unknownKidCooldownSeconds', 'maxStaleSeconds']);
  return {
    fetchTimeoutMs: r.integer(jwks.fetchTimeoutMs ?? 2000, `${field}.fetchTimeoutMs`, 10, 60_000),
    refreshIntervalSeconds: r.integer(jwks.refreshIntervalSeconds ?? 300, `${field}.refreshIntervalSeconds`, 1, 86_400),
    unknownKidCooldownSeconds: r.integer(jwks.unknownKidCooldownSeconds ?? 30, `${field}.unknownKidCooldownSeconds`, 0, 3600),
    maxStaleSeconds: r.integer(jwks.maxStaleSeconds ?? 86_400, `${field}.maxStaleSeconds`, 0, 30 * 86_400),
  };
}

/** An inline key set: a mapping, or a JSON string as in Istio's `jwks`. */
export function readInlineJwks(r: FieldReader, value: unknown, field: string): JSONWebKeySet {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      r.fail(field, 'is not valid JSON');
    }
  }
  const checked = checkJwks(parsed);
  if (!checked.ok) r.fail(field, checked.problem);
  return checked.jwks;
}
