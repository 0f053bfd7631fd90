/**
 * Verifying an end user's JWT against one issuer rule (RFC 7519, RFC 8725's
 * best practices): algorithm allow-list before any key lookup, keys from the
 * configured source only, registered claims with clock skew, the rule's
 * extra requirements, and RFC 8705 certificate binding. Every failure is a
 * TokenVerdict with a stable code and a reason that never quotes the token.
 */
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { HttpRequestModel } from '../request/model.js';
import { TokenErrorCode, type IssuerRule, type TokenLocation, type TokenVerdict, type VerifiedToken } from './issuer-rule.js';
import { KeysPendingError, KeysUnavailableError, type JwksManager } from './jwks.js';
import { defaultMaxTokenBytes, describeTokenLocation, extractToken } from './token-location.js';

/** What verification needs besides the token and the rule. */
export interface VerifyContext {
  /** SHA-256 of the peer certificate's DER, lower-case hex (`CertificateIdentity.sha256`), for RFC 8705 binding. */
  readonly peerCertificateSha256Hex?: string;
  /** The time to verify at; now when absent. */
  readonly now?: Date;
  /** Default 16 KiB. */
  readonly maxTokenBytes?: number;
}

type Failure = { readonly ok: false; readonly code: TokenErrorCode; readonly reason: string };

function fail(code: TokenErrorCode, reason: string): Failure {
  return { ok: false, code, reason };
}

/**
 * The unverified `iss` of a token, to pick the rule that verifies it. Nothing
 * read here is trusted until `verifyToken` succeeds.
 *
 * @example
 * const peeked = peekIssuer(token);
 * const rules = peeked.ok ? found.rules.filter((rule) => rule.issuer === peeked.issuer) : [];
 */
export function peekIssuer(token: string, maxTokenBytes: number = defaultMaxTokenBytes): { ok: true; issuer: string } | Failure {
  const size = checkSize(token, maxTokenBytes);
  if (size !== undefined) return size;
  let payload: JWTPayload;
  try {
    decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    return fail(TokenErrorCode.Malformed, 'the token is not a compact JWS with a JSON claims set');
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') return fail(TokenErrorCode.Malformed, 'the token has no "iss" claim');
  return { ok: true, issuer: payload.iss };
}

/**
 * Verifies a token under one issuer rule, with keys from `keys`. Never rejects.
 *
 * An HMAC (`HS*`) token is always refused with AlgorithmNotAllowed: key sets
 * hold public keys only, so an RSA public key can never serve as its secret.
 *
 * @example
 * const verdict = await verifyToken(token, rule, registry.forRule(rule), { peerCertificateSha256Hex: peer.certificate?.sha256 });
 * if (!verdict.ok) deny401(verdict.code, verdict.reason);
 */
export async function verifyToken(
  token: string,
  rule: IssuerRule,
  keys: Pick<JwksManager, 'getKey'>,
  context: VerifyContext = {},
): Promise<TokenVerdict> {
  const size = checkSize(token, context.maxTokenBytes ?? defaultMaxTokenBytes);
  if (size !== undefined) return size;
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return fail(TokenErrorCode.Malformed, 'the token is not a compact JWS');
  }
  if ('enc' in header) return fail(TokenErrorCode.Malformed, 'the token is encrypted (JWE); only signed tokens are accepted');
  const algorithm = header.alg;
  if (typeof algorithm !== 'string' || algorithm === '') return fail(TokenErrorCode.Malformed, 'the token header has no "alg"');
  // RFC 8725 §3.1: the allow-list decides before any key is looked up; unsigned tokens never pass.
  if (algorithm.toLowerCase() === 'none' || !rule.extensions.algorithms.includes(algorithm)) {
    return fail(
      TokenErrorCode.AlgorithmNotAllowed,
      `algorithm ${JSON.stringify(truncate(algorithm))} is not allowed for issuer ${rule.issuer}`,
    );
  }
  // RFC 7515 §4.1.11: Gatehouse understands no critical header extension.
  if (header.crit !== undefined) {
    return fail(TokenErrorCode.UnknownCritical, 'the token names critical header extensions ("crit") Gatehouse does not understand');
  }
  const extensions = rule.extensions;
  const now = context.now ?? new Date();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys.getKey, {
      issuer: rule.issuer,
      audience: rule.audiences.length > 0 ? [...rule.audiences] : undefined,
      algorithms: extensions.algorithms.filter((name) => name.toLowerCase() !== 'none'),
      clockTolerance: extensions.clockSkewSeconds,
      maxTokenAge: extensions.maxTokenAgeSeconds,
      requiredClaims: [...extensions.requiredClaims],
      typ: extensions.requiredType,
      currentDate: now,
    }));
  } catch (error) {
    return failureOf(error, rule);
  }

  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + extensions.clockSkewSeconds) {
    return fail(TokenErrorCode.IssuedInFuture, 'the token was issued in the future ("iat")');
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    return fail(TokenErrorCode.MissingClaim, 'the token has no "sub" claim, so it names no principal');
  }
  const binding = checkCertificateBinding(payload, context.peerCertificateSha256Hex);
  if (binding !== undefined) return binding;
  return { ok: true, token: verifiedToken(payload, rule.issuer, payload.sub, algorithm) };
}

/** RFC 8705 §3.1: a token with `cnf.x5t#S256` is valid only over a connection with that client certificate. */
function checkCertificateBinding(payload: JWTPayload, peerSha256Hex: string | undefined): Failure | undefined {
  const cnf = payload['cnf'];
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf))
    return fail(TokenErrorCode.Malformed, 'the "cnf" claim is not an object');
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256'];
  if (thumbprint === undefined) return undefined;
  if (typeof thumbprint !== 'string') return fail(TokenErrorCode.Malformed, 'the "cnf" claim\'s "x5t#S256" is not a string');
  if (peerSha256Hex === undefined) {
    return fail(TokenErrorCode.CertificateBindingMismatch, 'the token is bound to a client certificate, and the peer presented none');
  }
  if (Buffer.from(peerSha256Hex, 'hex').toString('base64url') !== thumbprint) {
    return fail(TokenErrorCode.CertificateBindingMismatch, 'the token is bound to a different client certificate than the peer presented');
  }
  return undefined;
}

function verifiedToken(payload: JWTPayload, issuer: string, subject: string, algorithm: string): VerifiedToken {
  const audiences = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter(isString) : [];
  const presenter = payload['azp'];
  return {
    principal: `${issuer}/${subject}`,
    issuer,
    subject,
    audiences,
    ...(typeof presenter === 'string' ? { presenter } : {}),
    claims: payload,
    ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp } : {}),
    ...(typeof payload.iat === 'number' ? { issuedAt: payload.iat } : {}),
    ...(typeof payload.jti === 'string' ? { jti: payload.jti } : {}),
    algorithm,
  };
}

/** Maps what jose (or the key resolver) threw to a code and a reason; jose's messages never contain the token. */
function failureOf(error: unknown, rule: IssuerRule): Failure {
  if (error instanceof KeysUnavailableError) return fail(TokenErrorCode.KeysUnavailable, error.message);
  if (error instanceof KeysPendingError) return fail(TokenErrorCode.KeysPending, error.message);
  if (error instanceof errors.JWTExpired) {
    return error.claim === 'iat'
      ? fail(TokenErrorCode.TooOld, `the token is older than ${rule.extensions.maxTokenAgeSeconds ?? 0} s ("iat")`)
      : fail(TokenErrorCode.Expired, 'the token has expired ("exp")');
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return fail(TokenErrorCode.WrongAudience, `the token's audience is not one of ${rule.audiences.join(', ')}`);
    if (error.claim === 'iss') return fail(TokenErrorCode.UnknownIssuer, `the token was not issued by ${rule.issuer}`);
    if (error.claim === 'typ') {
      return fail(TokenErrorCode.WrongType, `the token's "typ" header is not ${JSON.stringify(rule.extensions.requiredType)}`);
    }
    if (error.reason === 'missing') return fail(TokenErrorCode.MissingClaim, `the token has no ${JSON.stringify(error.claim)} claim`);
    if (error.reason === 'check_failed' && error.claim === 'nbf')
      return fail(TokenErrorCode.NotYetValid, 'the token is not valid yet ("nbf")');
    if (error.reason === 'check_failed' && error.claim === 'iat')
      return fail(TokenErrorCode.IssuedInFuture, 'the token was issued in the future ("iat")');
    return fail(TokenErrorCode.Malformed, `the token's ${JSON.stringify(error.claim)} claim is invalid`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return fail(TokenErrorCode.AlgorithmNotAllowed, `the token's algorithm is not allowed for issuer ${rule.issuer}`);
  if (error instanceof errors.JOSENotSupported) {
    return fail(TokenErrorCode.AlgorithmNotAllowed, 'the token uses an algorithm or key type Gatehouse cannot verify');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return fail(TokenErrorCode.BadSignature, 'the token signature does not verify');
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return fail(TokenErrorCode.NoMatchingKey, `no key of issuer ${rule.issuer} matches the token's "kid" and "alg"`);
  }
  if (error instanceof errors.JWKInvalid || error instanceof errors.JWKSInvalid) {
    return fail(TokenErrorCode.KeysUnavailable, `the key set of issuer ${rule.issuer} holds a key that cannot be used`);
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return fail(TokenErrorCode.Malformed, `the token is malformed (${error.message})`);
  }
  return fail(TokenErrorCode.Malformed, 'the token could not be verified');
}

function checkSize(token: string, maxTokenBytes: number): Failure | undefined {
  if (token.length > maxTokenBytes || Buffer.byteLength(token, 'utf8') > maxTokenBytes) {
    return fail(TokenErrorCode.TooLarge, `the token is larger than ${maxTokenBytes} bytes`);
  }
  return undefined;
}

/** What request authentication concluded about one request. */
export type RequestTokenOutcome =
  /** No token in any location the applicable rules look at: no request principal; policies decide. */
  | { readonly outcome: 'absent' }
  | {
      readonly outcome: 'verified';
      readonly token: VerifiedToken;
      readonly rule: IssuerRule;
      readonly location: TokenLocation;
      /** The compact token itself (for `outputPayloadToHeader`); never logged. */
      readonly compact: string;
    }
  /** A token was present and is not valid: Istio answers 401. */
  | { readonly outcome: 'rejected'; readonly code: TokenErrorCode; readonly reason: string };

/** Verifies one token under one rule: `verifyToken` itself, or a cache in front of it. */
export type TokenVerifier = (token: string, rule: IssuerRule) => Promise<TokenVerdict>;

/**
 * Istio's request authentication for one request: find the token where the
 * workload's rules look, pick the rules of its issuer, and accept it if one
 * of them verifies it. Never rejects.
 *
 * @example
 * const outcome = await authenticateRequest(input.request, set.rulesFor(input.workload), (token, rule) =>
 *   verifyToken(token, rule, registry.forRule(rule), { peerCertificateSha256Hex: input.peer?.certificate?.sha256 }),
 * );
 */
export async function authenticateRequest(
  request: HttpRequestModel,
  rules: readonly IssuerRule[],
  verify: TokenVerifier,
  options: {
    readonly maxTokenBytes?: number;
    /**
     * A verdict already known for the token under a rule (a cache), consulted
     * before the token is decoded at all when one rule looks where it was found.
     */
    readonly known?: (token: string, rule: IssuerRule) => TokenVerdict | undefined;
  } = {},
): Promise<RequestTokenOutcome> {
  if (rules.length === 0) return { outcome: 'absent' };
  const maxTokenBytes = options.maxTokenBytes ?? defaultMaxTokenBytes;
  const found = extractToken(request, rules, { maxTokenBytes });
  if (!found.found)
    return found.error === undefined ? { outcome: 'absent' } : { outcome: 'rejected', code: found.error, reason: found.reason };
  const only = found.rules.length === 1 ? found.rules[0] : undefined;
  const known = only && options.known?.(found.token, only);
  if (only && known) {
    return known.ok
      ? { outcome: 'verified', token: known.token, rule: only, location: found.location, compact: found.token }
      : { outcome: 'rejected', code: known.code, reason: known.reason };
  }
  const peeked = peekIssuer(found.token, maxTokenBytes);
  if (!peeked.ok) return { outcome: 'rejected', code: peeked.code, reason: peeked.reason };
  const candidates = found.rules.filter((rule) => rule.issuer === peeked.issuer);
  if (candidates.length === 0) {
    return {
      outcome: 'rejected',
      code: TokenErrorCode.UnknownIssuer,
      reason: `no rule for this workload accepts issuer ${JSON.stringify(truncate(peeked.issuer))} in the ${describeTokenLocation(found.location)}`,
    };
  }
  let first: Failure | undefined;
  for (const rule of candidates) {
    const verdict = await verify(found.token, rule);
    if (verdict.ok) return { outcome: 'verified', token: verdict.token, rule, location: found.location, compact: found.token };
    first ??= verdict;
  }
  const failure = first as Failure;
  return { outcome: 'rejected', code: failure.code, reason: failure.reason };
}

/**
 * The JWS `alg` of a token without verifying anything, for the token cache's
 * L2-first rule; '' when the header cannot be read (verification then fails
 * with the precise reason).
 *
 * @example
 * cache.lookup(key, () => tokenAlgorithm(token), verify);
 */
export function tokenAlgorithm(token: string): string {
  try {
    return decodeProtectedHeader(token).alg ?? '';
  } catch {
    return '';
  }
}

/** base64url(SHA-256(DER)): the RFC 8705 `x5t#S256` of a certificate, for tests and tools. */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

function truncate(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
