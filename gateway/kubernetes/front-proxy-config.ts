/**
 * The `kubernetesFrontProxy` section of gatehouse.yaml: which Checks are
 * kube-apiserver traffic, the JWT authenticators (the same
 * AuthenticationConfiguration-style `jwt` list as the Kubernetes webhook's),
 * the request-header names the apiserver trusts, and the
 * KubernetesAccessPolicy files that decide impersonation
 * (docs/kubernetes-front-proxy.md).
 */
import path from 'node:path';
import type { FieldReader } from '../config/load.js';
import { readJwtAuthenticators, type JwtAuthenticator } from './claim-mappings.js';

/**
 * The `--requestheader-*` names kube-apiserver is started with, lower-case.
 * Each flag takes a list and the apiserver reads every name listed, so
 * Gatehouse sets the first name and removes every one a client sends.
 */
export interface FrontProxyHeaderNames {
  /** `--requestheader-username-headers`, e.g. `[x-remote-user]`. Non-empty. */
  readonly user: readonly string[];
  /** `--requestheader-group-headers`, e.g. `[x-remote-group]`. Non-empty. */
  readonly group: readonly string[];
  /** `--requestheader-extra-headers-prefix`, e.g. `[x-remote-extra-]`. Non-empty. */
  readonly extraPrefix: readonly string[];
}

/**
 * Which Checks are kube-apiserver traffic. Every condition given must hold;
 * at least one is required.
 */
export interface FrontProxySelector {
  /** Lower-case request hosts (`:authority`), matched with or without the request's port. */
  readonly hosts: readonly string[];
  /** Envoy `context_extensions` the route or virtual host sets. */
  readonly contextExtensions: Readonly<Record<string, string>>;
}

export interface KubernetesFrontProxySettings {
  readonly selector: FrontProxySelector;
  readonly jwt: readonly JwtAuthenticator[];
  readonly headers: FrontProxyHeaderNames;
  /** Remove the client's `authorization` header once its token is verified. */
  readonly removeAuthorization: boolean;
  /** A request without a valid token is passed on without identity headers, for the apiserver to authenticate itself. */
  readonly passThroughWithoutToken: boolean;
  /** Files or folders with the KubernetesAccessPolicies that decide impersonation. */
  readonly policies: readonly string[];
}

const FIELDS = ['enabled', 'selector', 'jwt', 'headers', 'removeAuthorization', 'passThroughWithoutToken', 'policies'];
// RFC 9110 §5.6.2 token: what an HTTP field name may contain.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Reads `kubernetesFrontProxy`; `undefined` when it is absent or `enabled: false`.
 *
 * @throws ValidationError naming the field of the first problem.
 * @example
 * const frontProxy = readKubernetesFrontProxy(r, root.kubernetesFrontProxy, baseDir, policyPaths);
 */
export function readKubernetesFrontProxy(
  r: FieldReader,
  value: unknown,
  baseDir: string,
  defaultPolicies: readonly string[],
): KubernetesFrontProxySettings | undefined {
  const at = 'kubernetesFrontProxy';
  const section = r.object(value, at, FIELDS);
  if (!r.boolean(section.enabled ?? true, `${at}.enabled`)) return undefined;

  if (section.selector === undefined) r.fail(`${at}.selector`, 'is required: say which Checks are kube-apiserver traffic');
  const selector = r.object(section.selector, `${at}.selector`, ['hosts', 'contextExtensions']);
  const hosts = r.strings(selector.hosts ?? [], `${at}.selector.hosts`).map((host) => host.toLowerCase());
  const extensions = r.object(selector.contextExtensions ?? {}, `${at}.selector.contextExtensions`, undefined);
  const contextExtensions: Record<string, string> = {};
  for (const [key, item] of Object.entries(extensions)) {
    contextExtensions[key] = r.string(item, `${at}.selector.contextExtensions.${key}`);
  }
  if (hosts.length === 0 && Object.keys(contextExtensions).length === 0) {
    r.fail(`${at}.selector`, 'needs hosts or contextExtensions');
  }

  const jwt = readJwtAuthenticators(r, section.jwt, `${at}.jwt`);
  if (jwt.length === 0) r.fail(`${at}.jwt`, 'needs at least one authenticator');

  const headers = r.object(section.headers ?? {}, `${at}.headers`, ['user', 'group', 'extraPrefix']);
  const headerName = (item: unknown, field: string): string => {
    const name = r.string(item, field).toLowerCase();
    if (!HEADER_NAME.test(name)) r.fail(field, `'${name}' is not an HTTP header name`);
    if (name.startsWith('impersonate-') || name === 'authorization') r.fail(field, `'${name}' is not a header the apiserver may trust`);
    return name;
  };
  // A name or a list of names, as the apiserver's flags take.
  const headerNames = (item: unknown, fallback: string, field: string): string[] => {
    if (item === undefined) return [fallback.toLowerCase()];
    if (typeof item === 'string') return [headerName(item, field)];
    const list = r.array(item, field).map((entry, i) => headerName(entry, `${field}[${i}]`));
    if (list.length === 0) r.fail(field, 'must name at least one header');
    return list;
  };
  const names: FrontProxyHeaderNames = {
    user: headerNames(headers.user, 'X-Remote-User', `${at}.headers.user`),
    group: headerNames(headers.group, 'X-Remote-Group', `${at}.headers.group`),
    extraPrefix: headerNames(headers.extraPrefix, 'X-Remote-Extra-', `${at}.headers.extraPrefix`),
  };
  for (const name of names.group) if (names.user.includes(name)) r.fail(`${at}.headers.group`, `'${name}' is also a user header`);
  for (const prefix of names.extraPrefix) {
    if ([...names.user, ...names.group].some((name) => name.startsWith(prefix))) {
      r.fail(`${at}.headers.extraPrefix`, `'${prefix}' must not be a prefix of a user or group header`);
    }
  }

  const policies =
    section.policies === undefined
      ? [...defaultPolicies]
      : r.strings(section.policies, `${at}.policies`).map((item) => path.resolve(baseDir, item));
  if (policies.length === 0) r.fail(`${at}.policies`, 'needs at least one path');

  return {
    selector: { hosts, contextExtensions },
    jwt,
    headers: names,
    removeAuthorization: r.boolean(section.removeAuthorization ?? true, `${at}.removeAuthorization`),
    passThroughWithoutToken: r.boolean(section.passThroughWithoutToken ?? false, `${at}.passThroughWithoutToken`),
    policies,
  };
}
