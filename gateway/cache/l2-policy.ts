/**
 * Which tokens are worth a Redis round trip before verifying them locally.
 *
 * Measured (docs/cache-and-revocation.md, "Why L2 is read first only for some
 * algorithms"): on one core, Node 20, jose 6, loopback Redis 7 with ioredis 6,
 * medians of 5000 runs, three runs each:
 *   jwtVerify  RS256 39 µs, RS512 39 µs, PS256 42 µs, HS256 31 µs,
 *              ES256 83 µs, EdDSA 101 µs, ES384 470 µs, ES512 1000 µs;
 *   GET        61–97 µs one at a time; 8–27 µs of event-loop time each with 64 in flight.
 * RSA and HMAC verify faster than Redis answers, so those tokens stay out of
 * L2 altogether (nobody would read them back). Elliptic-curve and EdDSA verification costs as much as a
 * round trip or more, and several times a pipelined GET's CPU, so L2 is read first.
 */

/** `alg` → read L2 before verifying (and write it after). Unlisted algorithms are verified locally only. */
export const READ_SHARED_FIRST: Readonly<Record<string, boolean>> = {
  HS256: false,
  HS384: false,
  HS512: false,
  RS256: false,
  RS384: false,
  RS512: false,
  PS256: false,
  PS384: false,
  PS512: false,
  ES256: true,
  ES384: true,
  ES512: true,
  EdDSA: true,
  Ed25519: true,
};

/**
 * Whether a lookup for a token signed with `algorithm` should ask L2 before
 * verifying locally.
 *
 * @example
 * readSharedFirst('ES256'); // true
 * readSharedFirst('RS256'); // false: verifying is cheaper than asking Redis
 */
export function readSharedFirst(algorithm: string): boolean {
  return READ_SHARED_FIRST[algorithm] ?? false;
}
