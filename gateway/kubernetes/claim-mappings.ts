/**
 * JWT authenticators the way Kubernetes' structured authentication
 * configuration (AuthenticationConfiguration `jwt[]`,
 * apiserver.config.k8s.io/v1beta1 and v1) describes them: which issuer and
 * audiences, which claims must hold, and how a verified token's claims become
 * a Kubernetes user. Plus Gatehouse's keys: where the issuer's keys are
 * (`issuer.jwksUri`, `issuer.jwks`) and the gateway's per-issuer `settings`.
 *
 * Reading the configuration fails with the field's path; mapping a token
 * never throws: every problem is a code and a reason.
 */
import type { JSONWebKeySet } from 'jose';
import type { IssuerSettings } from '../config/config.js';
import { readInlineJwks } from '../config/config-file.js';
import { FieldReader, readIssuerSettings } from '../config/load.js';
import { ValidationError } from '../errors.js';
import { defaultIssuerExtensions, defaultTokenLocations, issuerRuleFingerprint, validateIssuerExtensions } from '../identity/index.js';
import type { IssuerExtensions, IssuerRule, VerifiedToken } from '../identity/index.js';
import { compileClaimExpression, compileUserExpression, type ClaimExpressionResult, type ClaimProgram } from './claim-cel.js';
import type { KubernetesUser } from './types.js';

/** A claim copied as is, behind a prefix (`username`, `groups`). */
export interface PrefixedClaim {
  readonly kind: 'claim';
  readonly claim: string;
  readonly prefix: string;
}

/** A value computed by a CEL expression over `claims`. */
export interface ClaimExpression {
  readonly kind: 'expression';
  readonly program: ClaimProgram;
}

/** `claimMappings`: how the claims become a user. */
export interface ClaimMappings {
  readonly username: PrefixedClaim | ClaimExpression;
  readonly groups?: PrefixedClaim | ClaimExpression;
  readonly uid?: { readonly kind: 'claim'; readonly claim: string } | ClaimExpression;
  readonly extra: readonly { readonly key: string; readonly value: ClaimProgram }[];
}

/** One of `claimValidationRules`: a string claim with a required value, or a CEL expression with a message. */
export type ClaimValidationRule =
  | { readonly kind: 'claim'; readonly claim: string; readonly requiredValue: string }
  | { readonly kind: 'expression'; readonly program: ClaimProgram; readonly message?: string };

/** One of `userValidationRules`. */
export interface UserValidationRule {
  readonly program: ClaimProgram;
  readonly message?: string;
}

/** One configured JWT authenticator. */
export interface JwtAuthenticator {
  readonly issuer: {
    /** Must equal the token's `iss` exactly. */
    readonly url: string;
    /** Non-empty; a token must carry at least one of them (MatchAny). */
    readonly audiences: readonly string[];
    readonly jwksUri?: string;
    readonly jwks?: JSONWebKeySet;
  };
  /** The gateway's per-issuer settings; `discovery` is on when no key source is given. */
  readonly settings: IssuerSettings;
  readonly claimValidationRules: readonly ClaimValidationRule[];
  readonly claimMappings: ClaimMappings;
  readonly userValidationRules: readonly UserValidationRule[];
}

/** Why a verified token does not map to a user. */
export const UserMappingCode = {
  /** A claim validation rule does not hold. */
  ClaimValidationFailed: 'CLAIM_VALIDATION_FAILED',
  /** The username comes from `email` and the token does not say the address is verified. */
  EmailNotVerified: 'EMAIL_NOT_VERIFIED',
  /** A claim or an expression does not yield a username, groups, uid or extra value of the right shape. */
  MappingFailed: 'USER_MAPPING_FAILED',
  /** The mapped username or a group starts with `system:`. */
  ReservedPrefix: 'USER_RESERVED_PREFIX',
  /** A user validation rule does not hold. */
  UserValidationFailed: 'USER_VALIDATION_FAILED',
} as const;

export type UserMappingCode = (typeof UserMappingCode)[keyof typeof UserMappingCode];

export type UserMapping = { ok: true; user: KubernetesUser } | { ok: false; code: UserMappingCode; reason: string };

/** Kubernetes reserves names starting with this for its own components and groups. */
export const reservedPrefix = 'system:';

const AUTHENTICATOR_FIELDS = ['issuer', 'settings', 'claimValidationRules', 'claimMappings', 'userValidationRules'];
const ISSUER_FIELDS = ['url', 'audiences', 'audienceMatchPolicy', 'jwksUri', 'jwks'];
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const RFC1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// RFC 3986 pchar and "/": unreserved, percent-encoded, sub-delims, ":" and "@".
const HTTP_PATH = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

/**
 * Reads the `jwt` list of authenticators at `field`.
 *
 * @throws ValidationError naming the field of the first problem.
 * @example
 * const authenticators = readJwtAuthenticators(new FieldReader(file), raw.jwt, 'jwt');
 */
export function readJwtAuthenticators(r: FieldReader, value: unknown, field: string): JwtAuthenticator[] {
  const urls = new Set<string>();
  return r.array(value, field).map((item, i) => {
    const at = `${field}[${i}]`;
    const authenticator = readJwtAuthenticator(r, item, at);
    // Kubernetes: issuer.url must be unique across authenticators.
    if (urls.has(authenticator.issuer.url)) r.fail(`${at}.issuer.url`, `'${authenticator.issuer.url}' is configured twice`);
    urls.add(authenticator.issuer.url);
    return authenticator;
  });
}

function readJwtAuthenticator(r: FieldReader, value: unknown, field: string): JwtAuthenticator {
  const entry = r.object(value, field, AUTHENTICATOR_FIELDS);
  if (entry.issuer === undefined) r.fail(`${field}.issuer`, 'is required');
  if (entry.claimMappings === undefined) r.fail(`${field}.claimMappings`, 'is required');
  const issuer = readIssuer(r, entry.issuer, `${field}.issuer`);
  const hasKeySource = issuer.jwksUri !== undefined || issuer.jwks !== undefined;
  const read = readIssuerSettings(r, entry.settings ?? {}, `${field}.settings`);
  if (!hasKeySource && read.discovery === false) {
    r.fail(`${field}.issuer`, 'needs a key source: jwksUri, jwks, or OIDC discovery (settings.discovery must not be false)');
  }
  const settings: IssuerSettings = { ...read, discovery: read.discovery ?? !hasKeySource };
  try {
    validateIssuerExtensions(extensionsOf(settings), '', `${field}.settings`);
  } catch (error) {
    if (error instanceof ValidationError) r.fail(error.field, error.problem);
    throw error;
  }
  const claimValidationRules = r
    .array(entry.claimValidationRules ?? [], `${field}.claimValidationRules`)
    .map((rule, i) => readClaimValidationRule(r, rule, `${field}.claimValidationRules[${i}]`));
  const claimMappings = readClaimMappings(r, entry.claimMappings, `${field}.claimMappings`);
  const userValidationRules = r
    .array(entry.userValidationRules ?? [], `${field}.userValidationRules`)
    .map((rule, i) => readUserValidationRule(r, rule, `${field}.userValidationRules[${i}]`));

  // Kubernetes: if username.expression uses claims.email, claims.email_verified must be used in
  // username.expression, extra[*].valueExpression or claimValidationRules[*].expression.
  const username = claimMappings.username;
  if (username.kind === 'expression' && username.program.claimsRead.has('email')) {
    const checked = [
      username.program,
      ...claimMappings.extra.map((extra) => extra.value),
      ...claimValidationRules.flatMap((rule) => (rule.kind === 'expression' ? [rule.program] : [])),
    ];
    if (!checked.some((program) => program.claimsRead.has('email_verified'))) {
      r.fail(
        `${field}.claimMappings.username.expression`,
        "uses claims.email, so claims.email_verified must be checked in it, in an extra valueExpression or in a claim validation rule (e.g. 'claims.?email_verified.orValue(true) == true')",
      );
    }
  }
  return { issuer, settings, claimValidationRules, claimMappings, userValidationRules };
}

function readIssuer(r: FieldReader, value: unknown, field: string): JwtAuthenticator['issuer'] {
  const issuer = r.object(value, field, ISSUER_FIELDS);
  if (issuer.url === undefined) r.fail(`${field}.url`, 'is required');
  const url = readHttpsUrl(r, issuer.url, `${field}.url`);
  if (issuer.audiences === undefined) r.fail(`${field}.audiences`, 'is required');
  const audiences = r.strings(issuer.audiences, `${field}.audiences`);
  // Kubernetes: audiences is required and non-empty, without duplicates.
  if (audiences.length === 0) r.fail(`${field}.audiences`, 'must list at least one audience');
  audiences.forEach((audience, i) => {
    if (audiences.indexOf(audience) !== i) r.fail(`${field}.audiences[${i}]`, `'${audience}' is listed twice`);
  });
  if (issuer.audienceMatchPolicy !== undefined) {
    const policy = r.string(issuer.audienceMatchPolicy, `${field}.audienceMatchPolicy`);
    if (policy !== 'MatchAny') r.fail(`${field}.audienceMatchPolicy`, `must be MatchAny, got '${policy}'`);
  } else if (audiences.length > 1) {
    // Kubernetes: audienceMatchPolicy must be set to MatchAny when more than one audience is listed.
    r.fail(`${field}.audienceMatchPolicy`, 'is required (MatchAny) when more than one audience is listed');
  }
  const jwksUri = issuer.jwksUri === undefined ? undefined : readHttpsUrl(r, issuer.jwksUri, `${field}.jwksUri`);
  const jwks = issuer.jwks === undefined ? undefined : readInlineJwks(r, issuer.jwks, `${field}.jwks`);
  if (jwksUri !== undefined && jwks !== undefined) r.fail(field, 'set jwksUri or jwks, not both');
  return { url, audiences, ...(jwksUri === undefined ? {} : { jwksUri }), ...(jwks === undefined ? {} : { jwks }) };
}

/**
 * Kubernetes: the issuer URL must be https, without query, fragment or user
 * info. Gatehouse also accepts http on loopback hosts (127.0.0.1, [::1],
 * localhost), where no network sits between it and the identity provider.
 */
function readHttpsUrl(r: FieldReader, value: unknown, field: string): string {
  const text = r.string(value, field);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    r.fail(field, `'${text}' is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    r.fail(field, 'must be an https URL (http only on a loopback host)');
  }
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) {
    r.fail(field, 'must not have a query or a fragment');
  }
  if (url.username !== '' || url.password !== '') r.fail(field, 'must not contain user information');
  return text;
}

function readClaimValidationRule(r: FieldReader, value: unknown, field: string): ClaimValidationRule {
  const rule = r.object(value, field, ['claim', 'requiredValue', 'expression', 'message']);
  // Kubernetes: claim (with requiredValue) and expression (with message) are mutually exclusive.
  if ((rule.claim === undefined) === (rule.expression === undefined)) r.fail(field, 'set exactly one of claim, expression');
  if (rule.claim !== undefined) {
    if (rule.message !== undefined) r.fail(`${field}.message`, 'goes with expression, not with claim');
    // Kubernetes: without requiredValue, the claim must be present with the empty string.
    const requiredValue = rule.requiredValue === undefined ? '' : readStringAllowingEmpty(r, rule.requiredValue, `${field}.requiredValue`);
    return { kind: 'claim', claim: r.string(rule.claim, `${field}.claim`), requiredValue };
  }
  if (rule.requiredValue !== undefined) r.fail(`${field}.requiredValue`, 'goes with claim, not with expression');
  return {
    kind: 'expression',
    program: readProgram(r, rule.expression, `${field}.expression`, 'bool'),
    ...(rule.message === undefined ? {} : { message: r.string(rule.message, `${field}.message`) }),
  };
}

function readUserValidationRule(r: FieldReader, value: unknown, field: string): UserValidationRule {
  const rule = r.object(value, field, ['expression', 'message']);
  if (rule.expression === undefined) r.fail(`${field}.expression`, 'is required');
  const compiled = compileUserExpression(r.string(rule.expression, `${field}.expression`));
  if (!compiled.ok) r.fail(`${field}.expression`, compiled.problem);
  return { program: compiled.program, ...(rule.message === undefined ? {} : { message: r.string(rule.message, `${field}.message`) }) };
}

function readClaimMappings(r: FieldReader, value: unknown, field: string): ClaimMappings {
  const mappings = r.object(value, field, ['username', 'groups', 'uid', 'extra']);
  if (mappings.username === undefined) r.fail(`${field}.username`, 'is required');
  const username = readPrefixedMapping(r, mappings.username, `${field}.username`, 'string', true);
  const groups = mappings.groups === undefined ? undefined : readPrefixedMapping(r, mappings.groups, `${field}.groups`, 'strings', false);
  const uid = mappings.uid === undefined ? undefined : readUidMapping(r, mappings.uid, `${field}.uid`);
  const keys = new Set<string>();
  const extra = r.array(mappings.extra ?? [], `${field}.extra`).map((item, i) => {
    const at = `${field}.extra[${i}]`;
    const entry = r.object(item, at, ['key', 'valueExpression']);
    if (entry.key === undefined) r.fail(`${at}.key`, 'is required');
    if (entry.valueExpression === undefined) r.fail(`${at}.valueExpression`, 'is required');
    const key = readExtraKey(r, entry.key, `${at}.key`);
    if (keys.has(key)) r.fail(`${at}.key`, `'${key}' is mapped twice`);
    keys.add(key);
    return { key, value: readProgram(r, entry.valueExpression, `${at}.valueExpression`, 'strings') };
  });
  return {
    username,
    ...(groups === undefined ? {} : { groups }),
    ...(uid === undefined ? {} : { uid }),
    extra,
  };
}

/** `username` and `groups`: `{ claim, prefix }` or `{ expression }`. */
function readPrefixedMapping(
  r: FieldReader,
  value: unknown,
  field: string,
  result: ClaimExpressionResult,
  prefixRequired: boolean,
): PrefixedClaim | ClaimExpression {
  const mapping = r.object(value, field, ['claim', 'prefix', 'expression']);
  // Kubernetes: claim and expression are mutually exclusive, and prefix goes with claim only.
  if ((mapping.claim === undefined) === (mapping.expression === undefined)) r.fail(field, 'set exactly one of claim, expression');
  if (mapping.expression !== undefined) {
    if (mapping.prefix !== undefined) r.fail(`${field}.prefix`, 'goes with claim, not with expression');
    return { kind: 'expression', program: readProgram(r, mapping.expression, `${field}.expression`, result) };
  }
  // Kubernetes: if username.claim is set, username.prefix is required; set it to "" explicitly for none.
  if (mapping.prefix === undefined && prefixRequired) r.fail(`${field}.prefix`, 'is required with claim (set "" for no prefix)');
  const prefix = mapping.prefix === undefined ? '' : readStringAllowingEmpty(r, mapping.prefix, `${field}.prefix`);
  if (prefix.startsWith(reservedPrefix)) {
    r.fail(`${field}.prefix`, `must not start with '${reservedPrefix}', which is reserved for Kubernetes`);
  }
  return { kind: 'claim', claim: r.string(mapping.claim, `${field}.claim`), prefix };
}

function readUidMapping(r: FieldReader, value: unknown, field: string): NonNullable<ClaimMappings['uid']> {
  const mapping = r.object(value, field, ['claim', 'expression']);
  if ((mapping.claim === undefined) === (mapping.expression === undefined)) r.fail(field, 'set exactly one of claim, expression');
  return mapping.claim !== undefined
    ? { kind: 'claim', claim: r.string(mapping.claim, `${field}.claim`) }
    : { kind: 'expression', program: readProgram(r, mapping.expression, `${field}.expression`, 'string') };
}

/**
 * Kubernetes: an extra key is a lower-case domain-prefixed path (`example.org/foo`): an RFC 1123 subdomain, a
 * "/", then RFC 3986 path characters; k8s.io, kubernetes.io and their subdomains are reserved.
 */
function readExtraKey(r: FieldReader, value: unknown, field: string): string {
  const key = r.string(value, field);
  if (key !== key.toLowerCase()) r.fail(field, `'${key}' must be lower-case`);
  const slash = key.indexOf('/');
  const domain = slash < 0 ? key : key.slice(0, slash);
  const path = slash < 0 ? '' : key.slice(slash + 1);
  if (slash < 0 || domain.length > 253 || !RFC1123_SUBDOMAIN.test(domain) || path === '' || !HTTP_PATH.test(path)) {
    r.fail(field, `'${key}' is not a domain-prefixed path such as example.com/tenant`);
  }
  if (['k8s.io', 'kubernetes.io'].some((reserved) => domain === reserved || domain.endsWith(`.${reserved}`))) {
    r.fail(field, `'${key}' uses a domain reserved for Kubernetes`);
  }
  return key;
}

function readProgram(r: FieldReader, value: unknown, field: string, result: ClaimExpressionResult): ClaimProgram {
  const compiled = compileClaimExpression(r.string(value, field), result);
  if (!compiled.ok) r.fail(field, compiled.problem);
  return compiled.program;
}

function readStringAllowingEmpty(r: FieldReader, value: unknown, field: string): string {
  if (typeof value !== 'string') r.fail(field, 'must be a string');
  return value;
}

/** The issuer extensions of an authenticator's settings, over the gateway's defaults. */
function extensionsOf(settings: IssuerSettings): IssuerExtensions {
  return {
    discovery: settings.discovery ?? defaultIssuerExtensions.discovery,
    algorithms: settings.algorithms ?? defaultIssuerExtensions.algorithms,
    clockSkewSeconds: settings.clockSkewSeconds ?? defaultIssuerExtensions.clockSkewSeconds,
    maxTokenAgeSeconds: settings.maxTokenAgeSeconds,
    // Kubernetes (go-oidc) refuses a token without exp: a Kubernetes credential never lives forever.
    requiredClaims: [...new Set(['exp', ...(settings.requiredClaims ?? defaultIssuerExtensions.requiredClaims)])],
    requiredType: settings.requiredType,
  };
}

/**
 * The issuer rule that verifies an authenticator's tokens with the gateway's
 * machinery (`verifyToken`, `JwksRegistry`, the token cache): its issuer,
 * its audiences (MatchAny), its key source and settings.
 *
 * @example
 * const rule = issuerRuleOfAuthenticator(authenticators[0], 'jwt[0]');
 * const verdict = await verifyToken(token, rule, keys.forRule(rule));
 */
export function issuerRuleOfAuthenticator(authenticator: JwtAuthenticator, id: string): IssuerRule {
  const extensions = extensionsOf(authenticator.settings);
  const { url, audiences, jwksUri, jwks } = authenticator.issuer;
  const rule = {
    issuer: url,
    audiences,
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(jwks === undefined ? {} : { jwks }),
  };
  return {
    id,
    ...rule,
    locations: defaultTokenLocations,
    outputClaimToHeaders: [],
    forwardOriginalToken: false,
    extensions,
    fingerprint: issuerRuleFingerprint(rule, extensions),
  };
}

type Failure = { ok: false; code: UserMappingCode; reason: string };

function failure(code: UserMappingCode, reason: string): Failure {
  return { ok: false, code, reason };
}

/**
 * The Kubernetes user of a verified token, in Kubernetes' order: claim
 * validation rules, claim mappings, the reserved `system:` prefix, user
 * validation rules. Never throws.
 *
 * @example
 * const mapped = mapTokenToUser(authenticator, verdict.token);
 * if (mapped.ok) review = { authenticated: true, user: mapped.user, audiences };
 */
export function mapTokenToUser(authenticator: JwtAuthenticator, token: VerifiedToken): UserMapping {
  const claims = token.claims;
  for (const [i, rule] of authenticator.claimValidationRules.entries()) {
    const failed = checkClaimRule(rule, claims, i);
    if (failed) return failed;
  }
  const mappings = authenticator.claimMappings;

  const username = mapUsername(mappings.username, claims);
  if (!username.ok) return username;
  const groups = mapGroups(mappings.groups, claims);
  if (!groups.ok) return groups;
  const uid = mapUid(mappings.uid, claims);
  if (!uid.ok) return uid;
  const extra: Record<string, readonly string[]> = {};
  for (const { key, value } of mappings.extra) {
    const values = runForStrings(value, claims, `extra '${key}'`);
    if (!values.ok) return values;
    // Kubernetes: "", [] and null mean the extra key is not present.
    if (values.value.length > 0) extra[key] = values.value;
  }
  const user: KubernetesUser = {
    username: username.value,
    ...(uid.value === undefined ? {} : { uid: uid.value }),
    groups: groups.value,
    extra,
  };

  // Kubernetes reserves system: for its own users and groups; a token from an identity provider may not claim them.
  if (user.username.startsWith(reservedPrefix)) {
    return failure(UserMappingCode.ReservedPrefix, `the username may not start with '${reservedPrefix}'`);
  }
  if (user.groups.some((group) => group.startsWith(reservedPrefix))) {
    return failure(UserMappingCode.ReservedPrefix, `a group may not start with '${reservedPrefix}'`);
  }

  const userVariable = { username: user.username, uid: user.uid ?? '', groups: user.groups, extra: user.extra };
  for (const [i, rule] of authenticator.userValidationRules.entries()) {
    const outcome = rule.program.run(userVariable);
    if (!outcome.ok) {
      return failure(UserMappingCode.UserValidationFailed, `user validation rule ${i} failed to evaluate: ${outcome.problem}`);
    }
    if (outcome.value !== true) {
      return failure(
        UserMappingCode.UserValidationFailed,
        rule.message ?? `user validation rule ${i} does not hold: ${rule.program.expression}`,
      );
    }
  }
  return { ok: true, user };
}

function checkClaimRule(rule: ClaimValidationRule, claims: Readonly<Record<string, unknown>>, index: number): Failure | undefined {
  if (rule.kind === 'claim') {
    // Kubernetes: only string claims; the claim must be present and equal the required value.
    const value = ownClaim(claims, rule.claim);
    if (value === rule.requiredValue) return undefined;
    return failure(
      UserMappingCode.ClaimValidationFailed,
      value === undefined ? `the token has no '${rule.claim}' claim` : `the '${rule.claim}' claim does not have the required value`,
    );
  }
  const outcome = rule.program.run(claims);
  if (!outcome.ok) {
    return failure(UserMappingCode.ClaimValidationFailed, `claim validation rule ${index} failed to evaluate: ${outcome.problem}`);
  }
  if (outcome.value === true) return undefined;
  return failure(
    UserMappingCode.ClaimValidationFailed,
    rule.message ?? `claim validation rule ${index} does not hold: ${rule.program.expression}`,
  );
}

type Mapped<T> = { ok: true; value: T } | Failure;

function mapUsername(mapping: ClaimMappings['username'], claims: Readonly<Record<string, unknown>>): Mapped<string> {
  if (mapping.kind === 'expression') {
    const outcome = mapping.program.run(claims);
    if (!outcome.ok) return failure(UserMappingCode.MappingFailed, `username: ${outcome.problem}`);
    if (typeof outcome.value !== 'string') return failure(UserMappingCode.MappingFailed, 'username: the expression must yield a string');
    // Kubernetes: an empty username from username.expression fails authentication.
    if (outcome.value === '') return failure(UserMappingCode.MappingFailed, 'username: the expression yields the empty string');
    return { ok: true, value: outcome.value };
  }
  const value = ownClaim(claims, mapping.claim);
  // Kubernetes: a token without the username claim does not authenticate.
  if (value === undefined || value === null) {
    return failure(UserMappingCode.MappingFailed, `the token has no '${mapping.claim}' claim for the username`);
  }
  if (typeof value !== 'string' || value === '') {
    return failure(UserMappingCode.MappingFailed, `the '${mapping.claim}' claim is not a non-empty string`);
  }
  // OpenID Connect Core §5.1 / Kubernetes: a username from the email claim needs email_verified; Gatehouse requires it to be true.
  if (mapping.claim === 'email' && ownClaim(claims, 'email_verified') !== true) {
    return failure(UserMappingCode.EmailNotVerified, "the username comes from 'email' and the token's 'email_verified' is not true");
  }
  return { ok: true, value: mapping.prefix + value };
}

function mapGroups(mapping: ClaimMappings['groups'], claims: Readonly<Record<string, unknown>>): Mapped<readonly string[]> {
  if (mapping === undefined) return { ok: true, value: [] };
  if (mapping.kind === 'expression') return runForStrings(mapping.program, claims, 'groups');
  // Kubernetes: the groups claim may be a string or a list of strings; absent means no groups.
  const values = stringsOf(ownClaim(claims, mapping.claim));
  if (values === undefined) {
    return failure(UserMappingCode.MappingFailed, `the '${mapping.claim}' claim is not a string or a list of strings`);
  }
  return { ok: true, value: values.map((group) => mapping.prefix + group) };
}

function mapUid(mapping: ClaimMappings['uid'], claims: Readonly<Record<string, unknown>>): Mapped<string | undefined> {
  if (mapping === undefined) return { ok: true, value: undefined };
  if (mapping.kind === 'expression') {
    const outcome = mapping.program.run(claims);
    if (!outcome.ok) return failure(UserMappingCode.MappingFailed, `uid: ${outcome.problem}`);
    if (typeof outcome.value !== 'string') return failure(UserMappingCode.MappingFailed, 'uid: the expression must yield a string');
    return { ok: true, value: outcome.value === '' ? undefined : outcome.value };
  }
  // Kubernetes: a uid claim mapping needs the claim, as a string.
  const value = ownClaim(claims, mapping.claim);
  if (typeof value !== 'string' || value === '') {
    return failure(UserMappingCode.MappingFailed, `the '${mapping.claim}' claim for the uid is not a non-empty string`);
  }
  return { ok: true, value };
}

/** Runs a groups or extra expression: a string or a list of strings. */
function runForStrings(program: ClaimProgram, claims: Readonly<Record<string, unknown>>, what: string): Mapped<readonly string[]> {
  const outcome = program.run(claims);
  if (!outcome.ok) return failure(UserMappingCode.MappingFailed, `${what}: ${outcome.problem}`);
  const values = stringsOf(outcome.value);
  if (values === undefined) {
    return failure(UserMappingCode.MappingFailed, `${what}: the expression must yield a string or a list of strings`);
  }
  return { ok: true, value: values };
}

/**
 * A string or a list of strings as a list; "", [] and null as no values, and
 * empty strings in a list dropped (Kubernetes' rule for groups and extra).
 * Undefined for any other shape.
 */
function stringsOf(value: unknown): readonly string[] | undefined {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) return undefined;
  return value.filter((item) => item !== '');
}

/** A claim by name, own properties only (a claim named `constructor` is not Object's). */
function ownClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}
