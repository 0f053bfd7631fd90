/**
 * What is stored for an API key, in Redis (JSON) and in key files (YAML):
 * whom it names, its scopes, its validity window and the hash of the key.
 * Records come from storage that an operator or a compromised tool may have
 * written, so they are read strictly, once, into a type that cannot be invalid.
 */
import { apiKeyHashBytes, isApiKeyId } from './api-key.js';

/** A stored API key, times in milliseconds since the epoch. */
export interface ApiKeyRecord {
  readonly id: string;
  /** The service the key names; the request principal is `<apiKeys.issuer>/<principal>`. */
  readonly principal: string;
  readonly scopes: readonly string[];
  readonly notBefore?: number;
  readonly notAfter?: number;
  /** SHA-256 of the whole key, 32 bytes. */
  readonly sha256: Buffer;
  readonly createdAt?: number;
  readonly revokedAt?: number;
  readonly description?: string;
}

/** Bounds on what a record may hold. */
export const apiKeyRecordLimits = {
  maxPrincipalLength: 256,
  maxScopes: 64,
  maxScopeLength: 128,
  maxDescriptionLength: 256,
} as const;

/** The fields of a stored record, in the order they are written. */
export const apiKeyRecordFields = ['id', 'principal', 'scopes', 'notBefore', 'notAfter', 'sha256', 'createdAt', 'revokedAt', 'description'];

/**
 * Principals end up in `request.auth.principal` and in the upstream's subject
 * header: letters, digits and `._~:@/+-` only (SPIFFE-shaped names fit).
 */
const PRINCIPAL = /^[A-Za-z0-9._~:@/+-]+$/;
/** RFC 6749 §3.3 scope-token characters. */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

export type ApiKeyRecordReading =
  { readonly ok: true; readonly record: ApiKeyRecord } | { readonly ok: false; readonly field: string; readonly problem: string };

/**
 * Reads one stored record (parsed JSON or YAML). Unknown fields, a hash that
 * is not 32 bytes of base64url, times without a time zone, or a window that
 * ends before it starts are refused, naming the field.
 *
 * @example
 * const reading = readApiKeyRecord(JSON.parse(stored));
 * if (!reading.ok) log.warn({ field: reading.field }, reading.problem);
 */
export function readApiKeyRecord(value: unknown): ApiKeyRecordReading {
  try {
    return { ok: true, record: read(value) };
  } catch (error) {
    if (error instanceof RecordProblem) return { ok: false, field: error.field, problem: error.message };
    throw error;
  }
}

class RecordProblem extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(problem);
  }
}

function read(value: unknown): ApiKeyRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecordProblem('', 'must be a mapping');
  const fields = value as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!apiKeyRecordFields.includes(name))
      throw new RecordProblem(name, `unknown field (expected one of: ${apiKeyRecordFields.join(', ')})`);
  }
  const id = text(fields.id, 'id');
  if (!isApiKeyId(id)) throw new RecordProblem('id', 'must be 16 lower-case hex characters');
  const principal = text(fields.principal, 'principal');
  if (principal.length > apiKeyRecordLimits.maxPrincipalLength || !PRINCIPAL.test(principal)) {
    throw new RecordProblem(
      'principal',
      `must be 1 to ${apiKeyRecordLimits.maxPrincipalLength} of the characters A-Z a-z 0-9 . _ ~ : @ / + -`,
    );
  }
  const scopes = fields.scopes === undefined ? [] : readScopes(fields.scopes);
  const sha256 = Buffer.from(text(fields.sha256, 'sha256'), 'base64url');
  if (sha256.length !== apiKeyHashBytes || sha256.toString('base64url') !== fields.sha256) {
    throw new RecordProblem('sha256', `must be the base64url SHA-256 of the key (${apiKeyHashBytes} bytes)`);
  }
  const notBefore = optionalTime(fields.notBefore, 'notBefore');
  const notAfter = optionalTime(fields.notAfter, 'notAfter');
  if (notBefore !== undefined && notAfter !== undefined && notAfter <= notBefore) {
    throw new RecordProblem('notAfter', 'must be later than notBefore');
  }
  const description = fields.description === undefined ? undefined : text(fields.description, 'description');
  if (description !== undefined && (description.length > apiKeyRecordLimits.maxDescriptionLength || !PRINTABLE.test(description))) {
    throw new RecordProblem('description', `must be at most ${apiKeyRecordLimits.maxDescriptionLength} printable ASCII characters`);
  }
  return {
    id,
    principal,
    scopes,
    sha256,
    ...defined('notBefore', notBefore),
    ...defined('notAfter', notAfter),
    ...defined('createdAt', optionalTime(fields.createdAt, 'createdAt')),
    ...defined('revokedAt', optionalTime(fields.revokedAt, 'revokedAt')),
    ...defined('description', description),
  };
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new RecordProblem(field, 'must be a non-empty string');
  return value;
}

function readScopes(value: unknown): string[] {
  if (!Array.isArray(value)) throw new RecordProblem('scopes', 'must be a list of strings');
  if (value.length > apiKeyRecordLimits.maxScopes) throw new RecordProblem('scopes', `at most ${apiKeyRecordLimits.maxScopes} scopes`);
  return value.map((scope, i) => {
    const field = `scopes[${i}]`;
    const name = text(scope, field);
    if (name.length > apiKeyRecordLimits.maxScopeLength || !SCOPE.test(name)) {
      throw new RecordProblem(
        field,
        `must be an OAuth scope token (RFC 6749 §3.3) of at most ${apiKeyRecordLimits.maxScopeLength} characters`,
      );
    }
    return name;
  });
}

function optionalTime(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = parseApiKeyTime(value);
  if (parsed === undefined) throw new RecordProblem(field, 'must be an RFC 3339 time with a time zone, e.g. 2026-01-31T00:00:00Z');
  return parsed;
}

/**
 * An RFC 3339 time with its time zone (`2026-01-31T00:00:00Z`,
 * `2026-01-31T01:00:00+01:00`) in milliseconds, or undefined.
 */
export function parseApiKeyTime(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== 'string' || !ISO_TIME.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function defined<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };
}

/**
 * The stored form of a record: what goes into Redis (as JSON) and key files
 * (as YAML). Times are RFC 3339 in UTC; absent fields are left out.
 *
 * @example
 * await redis.set(`${prefix}api-key:${record.id}`, JSON.stringify(storedApiKeyRecord(record)));
 */
export function storedApiKeyRecord(record: ApiKeyRecord): Record<string, unknown> {
  const time = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const stored: Record<string, unknown> = {
    id: record.id,
    principal: record.principal,
    ...(record.scopes.length > 0 ? { scopes: [...record.scopes] } : {}),
    notBefore: time(record.notBefore),
    notAfter: time(record.notAfter),
    sha256: record.sha256.toString('base64url'),
    createdAt: time(record.createdAt),
    revokedAt: time(record.revokedAt),
    description: record.description,
  };
  for (const [name, value] of Object.entries(stored)) if (value === undefined) delete stored[name];
  return stored;
}

/** Where a key stands at a moment. */
export type ApiKeyState = 'valid' | 'not-yet-valid' | 'expired' | 'revoked';

/**
 * The state of a key at `now`; `revokedElsewhere` is a revocation the record
 * does not show yet (published by another replica). Revocation comes first.
 *
 * @example
 * apiKeyState(record, Date.now(), revocation.isApiKeyRevoked(record.id)); // 'valid'
 */
export function apiKeyState(record: ApiKeyRecord, now: number, revokedElsewhere = false): ApiKeyState {
  // Any revokedAt revokes, even one in the future: a mistyped date must not keep a revoked key alive.
  if (revokedElsewhere || record.revokedAt !== undefined) return 'revoked';
  if (record.notBefore !== undefined && now < record.notBefore) return 'not-yet-valid';
  if (record.notAfter !== undefined && now >= record.notAfter) return 'expired';
  return 'valid';
}
