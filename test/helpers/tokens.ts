/**
 * Signing keys and tokens built by code: RSA, ECDSA P-256 and Ed25519 key
 * pairs, an HMAC secret, and `signToken` for any header a test needs,
 * including the hostile ones (alg none, crit, jku, embedded jwk, an RSA
 * public key as HMAC secret).
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from 'jose';

/** A key pair with its public JWK as a JWKS would publish it. */
export interface TestKey {
  readonly alg: 'RS256' | 'ES256' | 'EdDSA';
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** Generates a key pair; `kid` defaults to a random one. */
export async function generateTestKey(
  alg: TestKey['alg'],
  kid = `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`,
): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(
    alg,
    alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true },
  );
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk };
}

/** A JWKS of the public keys. */
export function jwksOf(...keys: readonly TestKey[]): JSONWebKeySet {
  return { keys: keys.map((key) => key.publicJwk) };
}

/** A 256-bit HMAC secret. */
export function hmacSecret(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

export interface SignOptions {
  /** Header `alg`; the key's own by default. */
  readonly alg?: string;
  /** Header `kid`; the key's own by default, omitted when null. */
  readonly kid?: string | null;
  readonly typ?: string;
  readonly crit?: string[];
  /** Any other header parameters (jku, x5u, jwk, …). */
  readonly header?: Record<string, unknown>;
}

/**
 * Signs `claims` with a test key (or an HMAC secret, then `alg` is required).
 *
 * @example
 * const token = await signToken({ iss, sub: 'alice', exp: now + 60 }, rsa);
 */
export async function signToken(claims: JWTPayload, key: TestKey | Uint8Array, options: SignOptions = {}): Promise<string> {
  const alg = options.alg ?? (key instanceof Uint8Array ? 'HS256' : key.alg);
  const kid = options.kid === undefined ? (key instanceof Uint8Array ? undefined : key.kid) : (options.kid ?? undefined);
  const header = {
    ...options.header,
    alg,
    ...(kid === undefined ? {} : { kid }),
    ...(options.typ === undefined ? {} : { typ: options.typ }),
    ...(options.crit === undefined ? {} : { crit: options.crit }),
  };
  const signer = new SignJWT(claims).setProtectedHeader(header);
  // jose refuses to sign with crit parameters it does not know unless told they are understood.
  return signer.sign(key instanceof Uint8Array ? key : key.privateKey, {
    ...(options.crit === undefined ? {} : { crit: Object.fromEntries(options.crit.map((name) => [name, false])) }),
  });
}

/** An unsigned token (`alg: none`, empty signature), which jose will not produce. */
export function unsignedToken(claims: JWTPayload, header: Record<string, unknown> = {}): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ ...header, alg: 'none' })}.${encode(claims)}.`;
}

/**
 * The PEM of a key's public half as bytes: what an algorithm-confusion
 * attacker uses as the HMAC secret of an `HS256` token, since the issuer
 * publishes it.
 *
 * @example
 * const forged = await signToken(claims, await publicKeyAsHmacSecret(rsa), { alg: 'HS256', kid: rsa.kid });
 */
export async function publicKeyAsHmacSecret(key: TestKey): Promise<Uint8Array> {
  const publicKey = await importJWK(key.publicJwk, key.alg, { extractable: true });
  const pem = await exportSPKI(publicKey as Parameters<typeof exportSPKI>[0]);
  createPublicKey(pem); // it is a real public key
  return new Uint8Array(Buffer.from(pem));
}

/** Seconds since the epoch. */
export function epochSeconds(date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000);
}
