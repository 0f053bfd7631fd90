/**
 * Impersonation through the Kubernetes front proxy: reads the
 * `Impersonate-*` headers of a request and asks the KubernetesAccessPolicies
 * whether the caller may impersonate each requested user, group, uid and
 * extra, with the `impersonate` verb's Kubernetes semantics.
 */
import type { KubernetesAuthorizer } from './authorizer.js';
import type { KubernetesUser, ResourceAttributes } from './types.js';

export const impersonateUserHeader = 'impersonate-user';
export const impersonateGroupHeader = 'impersonate-group';
export const impersonateUidHeader = 'impersonate-uid';
export const impersonateExtraPrefix = 'impersonate-extra-';

/**
 * What a request asks to be treated as. Envoy joins repeated headers with
 * `,` before Gatehouse sees them, so a group or extra value is split at `,`
 * into one value per header; a group or extra value containing `,` cannot be
 * impersonated through the proxy.
 */
export interface ImpersonationRequest {
  readonly user: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** Extra key (lower-case, percent-decoded) → values. */
  readonly extra: ReadonlyMap<string, readonly string[]>;
  /**
   * The request's `Impersonate-*` headers (lower-case names) with the values
   * authorized: on an allow they are set again from these, one entry per
   * value, so the apiserver sees exactly what was checked.
   */
  readonly headers: readonly { readonly name: string; readonly values: readonly string[] }[];
}

export type ImpersonationParse =
  { readonly ok: true; readonly request: ImpersonationRequest | undefined } | { readonly ok: false; readonly reason: string };

export type ImpersonationVerdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** More values than this in one impersonation header is refused. */
export const maxImpersonationValues = 64;

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const AUTHENTICATION_GROUP = 'authentication.k8s.io';

/**
 * Reads the `Impersonate-*` headers; `request` is undefined when there are none.
 * Refuses what kube-apiserver refuses with 400 (a group, uid or extra
 * without a user) and what cannot be checked exactly (a user or uid sent
 * twice, an empty value, an extra key that does not decode).
 *
 * @example
 * const parsed = readImpersonation(input.request.headers);
 */
export function readImpersonation(headers: ReadonlyMap<string, string>): ImpersonationParse {
  const found: { name: string; values: string[] }[] = [];
  let user: string | undefined;
  let uid: string | undefined;
  const groups: string[] = [];
  const extra = new Map<string, string[]>();
  for (const [name, value] of headers) {
    if (!name.startsWith('impersonate-')) continue;
    const values = value.split(',');
    if (values.length > maxImpersonationValues) return invalid(`${name} has more than ${maxImpersonationValues} values`);
    if (values.includes('')) return invalid(`${name} has an empty value`);
    found.push({ name, values });
    if (name === impersonateUserHeader || name === impersonateUidHeader) {
      // The apiserver reads the first of repeated headers; after Envoy joins them, which one that was is unknowable.
      if (values.length > 1) return invalid(`${name} must be sent once and must not contain ','`);
      if (name === impersonateUserHeader) user = value;
      else uid = value;
    } else if (name === impersonateGroupHeader) {
      groups.push(...values);
    } else if (name.startsWith(impersonateExtraPrefix)) {
      const key = decodeExtraKey(name.slice(impersonateExtraPrefix.length));
      if (key === undefined || key === '') return invalid(`${name} does not name an extra key`);
      extra.set(key, [...(extra.get(key) ?? []), ...values]);
    } else {
      return invalid(`${name} is not an impersonation header kube-apiserver knows`);
    }
  }
  if (found.length === 0) return { ok: true, request: undefined };
  // kube-apiserver refuses a group, uid or extra "without impersonating a user".
  if (user === undefined) return invalid('Impersonate-Group, Impersonate-Uid and Impersonate-Extra-* need Impersonate-User');
  return { ok: true, request: { user, ...(uid === undefined ? {} : { uid }), groups, extra, headers: found } };
}

/**
 * Whether `caller` may impersonate everything `request` asks for: every
 * review must be an explicit allow (no opinion is a refusal here, since no
 * other authorizer is consulted). The first refusal is reported.
 *
 * @example
 * const verdict = authorizeImpersonation(policies, caller, request);
 */
export function authorizeImpersonation(
  policies: KubernetesAuthorizer,
  caller: KubernetesUser,
  request: ImpersonationRequest,
): ImpersonationVerdict {
  for (const { attributes, what } of impersonationReviews(request)) {
    const verdict = policies.review({ user: caller, kind: 'resource', resource: attributes });
    if (!verdict.allowed) return { allowed: false, reason: `${caller.username} may not impersonate ${what}: ${verdict.reason}` };
  }
  return { allowed: true };
}

/** The SubjectAccessReviews kube-apiserver's impersonation filter makes, in its order: user, groups, extras, uid. */
export function impersonationReviews(request: ImpersonationRequest): { attributes: ResourceAttributes; what: string }[] {
  const reviews: { attributes: ResourceAttributes; what: string }[] = [];
  const { user } = request;
  const account = serviceAccountOf(user);
  reviews.push(
    account === undefined
      ? { attributes: impersonate('', 'users', '', user), what: `user ${user}` }
      : { attributes: impersonate('', 'serviceaccounts', '', account.name, account.namespace), what: `service account ${user}` },
  );
  for (const group of request.groups) reviews.push({ attributes: impersonate('', 'groups', '', group), what: `group ${group}` });
  for (const [key, values] of request.extra) {
    for (const value of values) {
      reviews.push({ attributes: impersonate(AUTHENTICATION_GROUP, 'userextras', key, value), what: `extra ${key}=${value}` });
    }
  }
  if (request.uid !== undefined) {
    reviews.push({ attributes: impersonate(AUTHENTICATION_GROUP, 'uids', '', request.uid), what: `uid ${request.uid}` });
  }
  return reviews;
}

function impersonate(group: string, resource: string, subresource: string, name: string, namespace = ''): ResourceAttributes {
  return { verb: 'impersonate', namespace, group, version: '', resource, subresource, name };
}

/** `system:serviceaccount:<namespace>:<name>`, as Kubernetes' serviceaccount.SplitUsername reads it. */
function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const parts = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined;
  return { namespace: parts[0] as string, name: parts[1] as string };
}

/** Kubernetes: extra keys are lower-cased and percent-decoded from the header name. Undefined when it does not decode. */
function decodeExtraKey(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.toLowerCase());
  } catch {
    return undefined;
  }
}

/**
 * Percent-encodes an extra key for a header name the way client-go does:
 * every byte that is not an RFC 7230 token character, and `%` itself.
 *
 * @example
 * extraHeaderKey('example.com/scopes') // 'example.com%2Fscopes'
 */
export function extraHeaderKey(key: string): string {
  let encoded = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += byte < 0x80 && TOKEN_CHAR.test(char) && char !== '%' ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

const TOKEN_CHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

function invalid(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
