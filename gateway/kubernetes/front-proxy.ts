/**
 * The Kubernetes front proxy (docs/kubernetes-front-proxy.md): for Checks of
 * kube-apiserver traffic, Gatehouse is the apiserver's authenticating proxy.
 * It verifies the caller's bearer token with the AuthenticationConfiguration-
 * style authenticators, maps it to a Kubernetes user with the same claim
 * mappings as TokenReview, and tells the apiserver who the user is through
 * its `--requestheader-*` headers. `Impersonate-*` headers reach the
 * apiserver only when the KubernetesAccessPolicies allow the caller to
 * impersonate each requested user, group, uid and extra. Other workloads
 * go to the gateway's own request authentication, untouched.
 */
import type { AuthenticationResult, Authenticator } from '../authorizer.js';
// The token cache module itself, not the cache folder's index: that would load ioredis into Redis-less replicas.
import { tokenCacheKey, type CacheTier, type TokenCache } from '../cache/token-cache.js';
import { DecisionCode } from '../errors.js';
import {
  peekIssuer,
  TokenErrorCode,
  tokenAlgorithm,
  verifyToken,
  type IssuerRule,
  type JwksRegistry,
  type VerifiedToken,
} from '../identity/index.js';
import type { CheckInput } from '../request/model.js';
import type { AuthenticationEffects, HeaderToSet } from '../response/plan.js';
import type { KubernetesAuthorizer } from './authorizer.js';
import { issuerRuleOfAuthenticator, mapTokenToUser, type JwtAuthenticator, type UserMapping } from './claim-mappings.js';
import type { FrontProxySelector, KubernetesFrontProxySettings } from './front-proxy-config.js';
import {
  authorizeImpersonation,
  extraHeaderKey,
  impersonateExtraPrefix,
  impersonateGroupHeader,
  impersonateUidHeader,
  impersonateUserHeader,
  readImpersonation,
  type ImpersonationRequest,
} from './front-proxy-impersonation.js';
import type { KubernetesUser } from './types.js';

type UnauthenticatedCode = typeof DecisionCode.KubernetesTokenRequired | typeof DecisionCode.KubernetesUserUnmapped;

/** Where the front proxy gets the live KubernetesAccessPolicies; swapped on reload. */
export interface KubernetesPolicySource {
  current(): KubernetesAuthorizer;
}

export interface KubernetesFrontProxyOptions {
  readonly settings: KubernetesFrontProxySettings;
  readonly policies: KubernetesPolicySource;
  readonly keys: JwksRegistry;
  readonly cache: TokenCache;
  readonly maxTokenBytes: number;
  /** The gateway's request authentication, for every Check that is not kube-apiserver traffic. */
  readonly next: Authenticator;
}

interface CompiledAuthenticator {
  readonly authenticator: JwtAuthenticator;
  readonly rule: IssuerRule;
  /** The user of each verified token object the cache holds: an L1 hit returns the same object, so the mapping runs once per token. */
  readonly users: WeakMap<VerifiedToken, UserMapping>;
}

// Kubernetes adds this group to every authenticated user before its impersonation filter runs.
const AUTHENTICATED_GROUP = 'system:authenticated';
const BEARER = /^bearer(?:\s+(.*))?$/i;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A header value Envoy would refuse to send upstream. */
const UNSENDABLE = /[\0\r\n]/;

/**
 * @example
 * const frontProxy = new KubernetesFrontProxy({ settings, policies, keys, cache, maxTokenBytes: 16_384, next: tokens });
 * const server = await startServer({ config, policies, log, authenticator: frontProxy });
 */
export class KubernetesFrontProxy implements Authenticator {
  private readonly byIssuer = new Map<string, CompiledAuthenticator>();

  constructor(private readonly options: KubernetesFrontProxyOptions) {
    options.settings.jwt.forEach((authenticator, i) => {
      const rule = issuerRuleOfAuthenticator(authenticator, `kubernetesFrontProxy.jwt[${i}]`);
      this.byIssuer.set(authenticator.issuer.url, { authenticator, rule, users: new WeakMap() });
    });
  }

  /** The issuer rules, to prefetch their keys. */
  get issuerRules(): IssuerRule[] {
    return [...this.byIssuer.values()].map((entry) => entry.rule);
  }

  async authenticate(input: CheckInput): Promise<AuthenticationResult> {
    if (!selects(this.options.settings.selector, input)) return this.options.next.authenticate(input);
    const headers = input.request.headers;

    const presented = bearerToken(headers.get('authorization'));
    if (presented.kind === 'absent') {
      return this.withoutValidToken(input, DecisionCode.KubernetesTokenRequired, 'kube-apiserver requests need a bearer token');
    }
    if (presented.kind === 'malformed') return this.withoutValidToken(input, TokenErrorCode.Malformed, presented.reason);

    const verified = await this.verify(presented.token);
    // The token cache's tier, for telemetry.
    const cacheTier = verified.tier;
    if (!verified.ok) return this.withoutValidToken(input, verified.code, verified.reason, cacheTier);
    const { entry, token } = verified;
    let mapped = entry.users.get(token);
    if (mapped === undefined) {
      mapped = mapTokenToUser(entry.authenticator, token);
      entry.users.set(token, mapped);
    }
    if (!mapped.ok) {
      return this.withoutValidToken(input, DecisionCode.KubernetesUserUnmapped, `${mapped.code}: ${mapped.reason}`, cacheTier);
    }
    const user = mapped.user;
    const unsendable = unsendableField(user);
    if (unsendable !== undefined) {
      return this.withoutValidToken(
        input,
        DecisionCode.KubernetesUserUnmapped,
        `the mapped ${unsendable} cannot be sent in a header`,
        cacheTier,
      );
    }

    const impersonation = readImpersonation(headers);
    if (!impersonation.ok) return { kind: 'rejected', code: DecisionCode.ImpersonationInvalid, reason: impersonation.reason, cacheTier };
    if (impersonation.request !== undefined) {
      const caller: KubernetesUser = user.groups.includes(AUTHENTICATED_GROUP)
        ? user
        : { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
      const verdict = authorizeImpersonation(this.options.policies.current(), caller, impersonation.request);
      if (!verdict.allowed) return { kind: 'rejected', code: DecisionCode.ImpersonationNotAllowed, reason: verdict.reason, cacheTier };
    }

    return {
      kind: 'authenticated',
      cacheTier,
      auth: { principal: token.principal, audiences: token.audiences, presenter: token.presenter, claims: token.claims },
      effects: this.effects(input, user, impersonation.request),
    };
  }

  /**
   * A request without a valid token: 401, or with `passThroughWithoutToken`
   * passed on with no identity claimed (and its own credentials kept) for the
   * apiserver to authenticate itself; its identity and impersonation headers
   * are removed either way.
   */
  private withoutValidToken(
    input: CheckInput,
    code: TokenErrorCode | UnauthenticatedCode,
    reason: string,
    cacheTier?: CacheTier,
  ): AuthenticationResult {
    if (!this.options.settings.passThroughWithoutToken) return { kind: 'rejected', code, reason, cacheTier };
    return { kind: 'anonymous', effects: { upstreamHeaders: [], upstreamHeadersToRemove: this.identityHeadersToRemove(input, new Set()) } };
  }

  /** Identity headers set from the user; the client's own identity and impersonation headers removed unless re-set. */
  private effects(input: CheckInput, user: KubernetesUser, impersonation: ImpersonationRequest | undefined): AuthenticationEffects {
    const names = this.options.settings.headers;
    const upstreamHeaders: HeaderToSet[] = [{ name: names.user[0] as string, value: user.username, append: false }];
    // The first value overwrites whatever the client sent; the rest are added as further entries of the same header.
    const setAll = (name: string, values: readonly string[]): void =>
      values.forEach((value, i) => upstreamHeaders.push({ name, value, append: i > 0 }));
    setAll(names.group[0] as string, user.groups);
    const extraPrefix = names.extraPrefix[0] as string;
    for (const [key, values] of Object.entries(user.extra)) setAll(`${extraPrefix}${extraHeaderKey(key)}`.toLowerCase(), values);
    if (impersonation !== undefined) for (const header of impersonation.headers) setAll(header.name, header.values);

    const set = new Set(upstreamHeaders.map((header) => header.name));
    const upstreamHeadersToRemove = this.identityHeadersToRemove(input, set);
    if (this.options.settings.removeAuthorization) upstreamHeadersToRemove.push('authorization');
    return { upstreamHeaders, upstreamHeadersToRemove };
  }

  /** Every identity or impersonation header a client could send, except those Gatehouse sets (which overwrite). */
  private identityHeadersToRemove(input: CheckInput, set: ReadonlySet<string>): string[] {
    const names = this.options.settings.headers;
    const remove = [...names.user, ...names.group, impersonateUserHeader, impersonateGroupHeader, impersonateUidHeader];
    for (const name of input.request.headers.keys()) {
      if (name.startsWith(impersonateExtraPrefix) || names.extraPrefix.some((prefix) => name.startsWith(prefix))) remove.push(name);
    }
    return remove.filter((name, i) => !set.has(name) && remove.indexOf(name) === i);
  }

  /** The authenticator of the token's issuer and the verified token, through the shared token cache. */
  private async verify(token: string): Promise<Verification> {
    const { maxTokenBytes, cache, keys } = this.options;
    const peeked = peekIssuer(token, maxTokenBytes);
    if (!peeked.ok) return peeked;
    const entry = this.byIssuer.get(peeked.issuer);
    if (entry === undefined) {
      return { ok: false, code: TokenErrorCode.UnknownIssuer, reason: "the token's issuer is not a kubernetesFrontProxy.jwt issuer" };
    }
    const { rule } = entry;
    const { verdict, tier } = await cache.lookup(
      tokenCacheKey(token, rule.fingerprint),
      () => tokenAlgorithm(token),
      () => verifyToken(token, rule, keys.forRule(rule), { maxTokenBytes }),
    );
    if (!verdict.ok) return { ...verdict, tier };
    // The client's certificate ends at Envoy's listener, so a certificate-bound token cannot be checked here: refused.
    const cnf = verdict.token.claims.cnf;
    if (typeof cnf === 'object' && cnf !== null && 'x5t#S256' in cnf) {
      return {
        ok: false,
        code: TokenErrorCode.CertificateBindingMismatch,
        reason: 'the front proxy does not accept certificate-bound tokens',
        tier,
      };
    }
    return { ok: true, entry, token: verdict.token, tier };
  }
}

type Verification =
  | { readonly ok: true; readonly entry: CompiledAuthenticator; readonly token: VerifiedToken; readonly tier?: CacheTier }
  | { readonly ok: false; readonly code: TokenErrorCode; readonly reason: string; readonly tier?: CacheTier };

/**
 * Whether a Check is kube-apiserver traffic: every configured condition
 * holds. A host matches with or without the request's port.
 *
 * @example
 * selects({ hosts: ['kubernetes.example.com'], contextExtensions: {} }, input) // true for kubernetes.example.com:6443
 */
export function selects(selector: FrontProxySelector, input: CheckInput): boolean {
  if (selector.hosts.length > 0) {
    const host = input.request.host;
    if (!selector.hosts.includes(host) && !selector.hosts.includes(host.replace(/:\d+$/, ''))) return false;
  }
  for (const [key, value] of Object.entries(selector.contextExtensions)) {
    if (input.contextExtensions[key] !== value) return false;
  }
  return true;
}

type Presented = { kind: 'absent' } | { kind: 'token'; token: string } | { kind: 'malformed'; reason: string };

/** RFC 6750 §2.1: `Bearer <token68>`. Another scheme is no bearer token; a broken or repeated Bearer header is malformed. */
function bearerToken(header: string | undefined): Presented {
  if (header === undefined) return { kind: 'absent' };
  const match = BEARER.exec(header.trim());
  if (match === null) return { kind: 'absent' };
  const token = (match[1] ?? '').trim();
  if (!TOKEN68.test(token)) return { kind: 'malformed', reason: 'the authorization header does not hold one bearer token' };
  return { kind: 'token', token };
}

function unsendableField(user: KubernetesUser): string | undefined {
  if (UNSENDABLE.test(user.username)) return 'username';
  if (user.groups.some((group) => UNSENDABLE.test(group))) return 'groups';
  for (const [key, values] of Object.entries(user.extra)) if (values.some((value) => UNSENDABLE.test(value))) return `extra '${key}'`;
  return undefined;
}
