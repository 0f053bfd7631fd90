/**
 * The service's signing keys: a folder of private keys (a mounted Kubernetes
 * Secret), one file per key, ES256 (P-256) or EdDSA (Ed25519). Every key is
 * published in the JWKS; only the active one signs. Rotation: add the new
 * key, publish it for a while (verifiers refetch on an unknown `kid`), then
 * make it active; remove the old one once its last tokens have expired.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { JSONWebKeySet, JWK } from 'jose';
import { ValidationError } from '../../gateway/errors.js';
import { KID_PATTERN } from './config.js';

export type SigningAlgorithm = 'ES256' | 'EdDSA';

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
  /** The public key as published: `kty`, curve, coordinates, `kid`, `alg`, `use: sig`. */
  readonly publicJwk: JWK;
}

export interface SigningKeys {
  /** The key that signs new tokens. */
  readonly active: SigningKey;
  /** Every key of the folder, active one included, by `kid`. */
  readonly all: ReadonlyMap<string, SigningKey>;
  /** The public JWKS served at `/.well-known/jwks.json`. */
  readonly jwks: JSONWebKeySet;
}

const PEM_EXTENSIONS = new Set(['.pem', '.key']);
const JWK_EXTENSIONS = new Set(['.json', '.jwk']);
const MAX_KEY_FILE_BYTES = 64 * 1024;
const MAX_KEYS = 64;

/**
 * Reads every key in `dir`: `<kid>.pem` / `<kid>.key` (PKCS#8 or SEC1 PEM)
 * and `<kid>.json` / `<kid>.jwk` (a private JWK; its own `kid`, when set,
 * wins over the file name). Hidden entries (Kubernetes' `..data` links) are
 * skipped.
 *
 * @throws ValidationError naming the file (never its content) when a key cannot be used, two keys share a kid, or `activeKid` is missing.
 * @example
 * const keys = await loadSigningKeys('/var/run/secrets/token-exchange/keys', '2026-05');
 * keys.active.kid; // '2026-05'
 */
export async function loadSigningKeys(dir: string, activeKid: string): Promise<SigningKeys> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new ValidationError(
      dir,
      undefined,
      '',
      `cannot read the signing key folder: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  const all = new Map<string, SigningKey>();
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const extension = path.extname(name).toLowerCase();
    if (!PEM_EXTENSIONS.has(extension) && !JWK_EXTENSIONS.has(extension)) continue;
    const file = path.join(dir, name);
    const info = await stat(file);
    if (!info.isFile()) continue;
    if (info.size > MAX_KEY_FILE_BYTES) throw new ValidationError(file, undefined, '', `larger than ${MAX_KEY_FILE_BYTES} bytes`);
    const key = readKey(file, await readFile(file, 'utf8'), path.basename(name, path.extname(name)), JWK_EXTENSIONS.has(extension));
    if (all.has(key.kid)) throw new ValidationError(file, undefined, '', `key id '${key.kid}' is used by two files`);
    all.set(key.kid, key);
    if (all.size > MAX_KEYS) throw new ValidationError(dir, undefined, '', `holds more than ${MAX_KEYS} keys`);
  }
  const active = all.get(activeKid);
  if (active === undefined) {
    const known = [...all.keys()].join(', ') || 'none';
    throw new ValidationError(dir, undefined, '', `no key with the active kid '${activeKid}' (keys found: ${known})`);
  }
  return { active, all, jwks: { keys: [...all.values()].map((key) => key.publicJwk) } };
}

function readKey(file: string, text: string, fileKid: string, isJwk: boolean): SigningKey {
  const fail = (problem: string): never => {
    throw new ValidationError(file, undefined, '', problem);
  };
  let privateKey: KeyObject;
  let kid = fileKid;
  let declaredAlg: unknown;
  try {
    if (isJwk) {
      const jwk = JSON.parse(text) as Record<string, unknown>;
      if (typeof jwk !== 'object' || jwk === null || typeof jwk['d'] !== 'string') fail('is not a private JWK (no "d")');
      if (typeof jwk['kid'] === 'string') kid = jwk['kid'];
      declaredAlg = jwk['alg'];
      privateKey = createPrivateKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' });
    } else {
      privateKey = createPrivateKey(text);
    }
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    // Node's messages describe the format problem, never the key material.
    return fail(`is not a readable private key (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!KID_PATTERN.test(kid)) fail(`key id '${kid}' is not 1 to 64 characters [A-Za-z0-9._-]`);
  const alg = algorithmOf(privateKey);
  if (alg === undefined) fail('is not an EC P-256 (ES256) or Ed25519 (EdDSA) private key');
  if (declaredAlg !== undefined && declaredAlg !== alg) fail(`declares "alg" ${JSON.stringify(declaredAlg)}, but the key is for ${alg}`);
  const exported = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  return { kid, alg: alg as SigningAlgorithm, privateKey, publicJwk: { ...exported, kid, alg, use: 'sig' } };
}

type JsonWebKeyInput = Extract<Parameters<typeof createPrivateKey>[0], { format: 'jwk' }>;

function algorithmOf(key: KeyObject): SigningAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}
