/**
 * The API key format: `ghk_<id>_<secret>`. The id (16 lower-case hex
 * characters, 64 random bits) names the stored record, so a key is found
 * with one lookup and never by scanning; the secret is 32 random bytes
 * (256 bits) in base64url. Only the SHA-256 of the whole key is stored, and
 * it is compared in constant time.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every key starts with this, so leaked keys are easy to spot (secret scanners, the query-string guard). */
export const apiKeyPrefix = 'ghk_';

/** `ghk_` + 16 + `_` + 43 characters. */
export const apiKeyLength = 64;

const KEY = /^ghk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const ID = /^[0-9a-f]{16}$/;
const ID_BYTES = 8;
const SECRET_BYTES = 32;

/** SHA-256 output: the length of every stored hash, so the comparison always sees equal lengths. */
export const apiKeyHashBytes = 32;

/** Reason codes of API-key authentication; a denial with one of these is a 401. */
export const ApiKeyErrorCode = {
  /** Not `ghk_<16 hex>_<43 base64url>`. */
  Malformed: 'APIKEY_MALFORMED',
  /** No key with that id, or the secret does not match: the two are not told apart. */
  Invalid: 'APIKEY_INVALID',
  Expired: 'APIKEY_EXPIRED',
  NotYetValid: 'APIKEY_NOT_YET_VALID',
  Revoked: 'APIKEY_REVOKED',
  /** A key in the URL query, where it is not allowed (`apiKeys.queryParameter` unset, or another parameter). */
  InQuery: 'APIKEY_IN_QUERY',
  /** Two different keys, or a key and a bearer token, in one request. */
  Ambiguous: 'APIKEY_AMBIGUOUS',
  /** The key store could not be read and nothing about the key was cached. */
  StoreUnavailable: 'APIKEY_STORE_UNAVAILABLE',
} as const;

export type ApiKeyErrorCode = (typeof ApiKeyErrorCode)[keyof typeof ApiKeyErrorCode];

/** A presented key whose shape is right; nothing about it is verified yet. */
export interface ParsedApiKey {
  /** The record id. Not a secret: it is listed, logged and used in revocations. */
  readonly id: string;
  /** The whole key, as presented: what is hashed. Never logged. */
  readonly key: string;
}

/**
 * A new key from the operating system's CSPRNG.
 *
 * @example
 * const { id, key } = generateApiKey(); // key shown once, hashApiKey(key) stored
 */
export function generateApiKey(): ParsedApiKey {
  const id = randomBytes(ID_BYTES).toString('hex');
  return { id, key: `${apiKeyPrefix}${id}_${randomBytes(SECRET_BYTES).toString('base64url')}` };
}

/**
 * Reads a presented key; undefined when it does not have the key's shape.
 *
 * @example
 * parseApiKey('ghk_3f9c2a7d1e4b8a60_…')?.id; // '3f9c2a7d1e4b8a60'
 */
export function parseApiKey(text: string): ParsedApiKey | undefined {
  if (text.length !== apiKeyLength) return undefined;
  const match = KEY.exec(text);
  return match ? { id: match[1] as string, key: text } : undefined;
}

/** Whether `id` has the shape of a key id (16 lower-case hex characters). */
export function isApiKeyId(id: string): boolean {
  return ID.test(id);
}

/**
 * SHA-256 of the whole key. A fast hash is enough here: the secret has 256
 * random bits, so no amount of guessing finds it, and a slow password hash
 * would only cost every cache miss milliseconds of CPU (docs/api-keys.md).
 */
export function hashApiKey(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

/**
 * Whether `key` hashes to `storedHash`, compared in constant time. Both
 * buffers are always 32 bytes (stored hashes of another length are refused
 * when records are read), so `equal` never sees different lengths.
 * `equal` is `crypto.timingSafeEqual`; tests pass a wrapper that records its arguments.
 */
export function apiKeyMatches(
  key: string,
  storedHash: Buffer,
  equal: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => boolean = timingSafeEqual,
): boolean {
  const presented = hashApiKey(key);
  if (storedHash.length !== presented.length) return false;
  return equal(presented, storedHash);
}
