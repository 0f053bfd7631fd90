/**
 * Signing keys and JWTs for the token benchmarks. Tokens are signed with
 * node:crypto directly (not jose's WebCrypto path) because the miss
 * benchmarks need tens of thousands of distinct RS256 tokens per run, and
 * signing is time spent before the measurement.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';

export type TokenAlgorithm = 'RS256' | 'ES256' | 'EdDSA';
export const TOKEN_ALGORITHMS: readonly TokenAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

export interface SigningKey {
  readonly alg: TokenAlgorithm;
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** The public JWK as a JWKS publishes it. */
  readonly publicJwk: Record<string, unknown>;
}

/** A fresh key pair: RSA 2048, P-256 or Ed25519. */
export function generateSigningKey(alg: TokenAlgorithm): SigningKey {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const kid = `bench-${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`;
  return { alg, kid, privateKey: pair.privateKey, publicJwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

export function jwksOf(keys: readonly SigningKey[]): JSONWebKeySet {
  return { keys: keys.map((key) => key.publicJwk) };
}

/**
 * A compact JWS over `claims` (RFC 7515 §7.1): base64url header and payload,
 * signed as RFC 7518 §3.3 (RS256), §3.4 (ES256, raw r‖s) and RFC 8037 (EdDSA) say.
 */
export function signJwt(claims: Readonly<Record<string, unknown>>, key: SigningKey): string {
  const header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = Buffer.from(`${header}.${payload}`);
  const signature =
    key.alg === 'EdDSA'
      ? sign(null, input, key.privateKey)
      : key.alg === 'ES256'
        ? sign('sha256', input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', input, key.privateKey);
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

/**
 * The claims of a typical access token from an OIDC provider (ten claims),
 * unique by `sub` and `jti`.
 *
 * @example
 * signJwt(userClaims(issuer, 42), key)
 */
export function userClaims(
  issuer: string,
  n: number,
  lifetimeSeconds = 3600,
  now = Math.floor(Date.now() / 1000),
): Record<string, unknown> {
  return {
    iss: issuer,
    sub: `user-${n}`,
    aud: 'todos',
    exp: now + lifetimeSeconds,
    iat: now,
    jti: `${randomBytes(8).toString('hex')}-${n}`,
    azp: 'todo-web',
    email: `user-${n}@example.com`,
    roles: ['todo-user', 'reader'],
    scope: 'openid profile email todos:read',
  };
}
