/**
 * Istio RequestAuthentication documents
 * (https://istio.io/latest/docs/reference/config/security/request_authentication/),
 * read verbatim from the same files as the policies, strictly validated,
 * then compiled into IssuerRules indexed by the workloads they apply to.
 */
import { createHash } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import { ValidationError } from '../errors.js';
import {
  TargetIndex,
  Validator,
  defaultPolicyNamespace,
  defaultRootNamespace,
  readDocumentsOfKind,
  type PolicyDocumentSource,
  type PolicyOptions,
  type PolicyOrigin,
  type PolicyTargetRef,
} from '../policy/index.js';
import type { WorkloadRef } from '../request/model.js';
import { validateIssuerExtensions } from './issuer-extensions.js';
import type { IssuerExtensions, IssuerRule, TokenLocation } from './issuer-rule.js';
import { checkJwks, isHttpUrl } from './jwks.js';
import { defaultTokenLocations } from './token-location.js';

/** Bounds on one document. */
export const requestAuthenticationLimits = {
  maxJwtRules: 256,
  maxLocations: 64,
  maxInlineJwksBytes: 1024 * 1024,
  maxTimeoutMs: 60_000,
} as const;

/** One validated `spec.jwtRules[]` entry, before Gatehouse's extensions are added. */
export interface JwtRule {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwksUri?: string;
  readonly jwks?: JSONWebKeySet;
  /** `fromHeaders`, `fromParams`, `fromCookies` in that order; Istio's defaults when none is given. */
  readonly locations: readonly TokenLocation[];
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  readonly forwardOriginalToken: boolean;
  /** `timeout`, in milliseconds. */
  readonly timeoutMs?: number;
}

/** One validated RequestAuthentication document. */
export interface RequestAuthentication {
  readonly apiVersion: 'security.istio.io/v1' | 'security.istio.io/v1beta1';
  readonly name: string;
  readonly namespace: string;
  readonly origin: PolicyOrigin;
  readonly selector?: Readonly<Record<string, string>>;
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly jwtRules: readonly JwtRule[];
}

/** What `parseRequestAuthentications` returns. */
export interface LoadedRequestAuthentications {
  readonly documents: readonly RequestAuthentication[];
}

const jwtRuleFields = [
  'issuer',
  'audiences',
  'jwksUri',
  'jwks',
  'fromHeaders',
  'fromParams',
  'fromCookies',
  'outputPayloadToHeader',
  'outputClaimToHeaders',
  'forwardOriginalToken',
  'timeout',
];

// RFC 9110 §5.6.2 token: header and cookie names.
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Reads the RequestAuthentication documents among policy sources; documents
 * of other kinds are left to their readers.
 *
 * @throws ValidationError naming file, document index and field (e.g. `spec.jwtRules[0].fromHeaders[1].name`).
 * @example
 * const loaded = parseRequestAuthentications(await readPolicySources(config.policies.paths), { defaultNamespace: 'default' });
 */
export function parseRequestAuthentications(
  sources: readonly PolicyDocumentSource[],
  options: PolicyOptions = {},
): LoadedRequestAuthentications {
  const defaultNamespace = options.defaultNamespace ?? defaultPolicyNamespace;
  const documents = readDocumentsOfKind(sources, 'security.istio.io', 'RequestAuthentication', (document, origin) =>
    validateRequestAuthentication(document, origin, defaultNamespace),
  );
  return { documents };
}

/** Reads one document already known to be a `security.istio.io` RequestAuthentication. */
export function validateRequestAuthentication(document: unknown, origin: PolicyOrigin, defaultNamespace: string): RequestAuthentication {
  const v = new Validator(origin);
  const root = v.object(document, '');
  v.onlyFields(root, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const apiVersion = root['apiVersion'];
  if (apiVersion !== 'security.istio.io/v1' && apiVersion !== 'security.istio.io/v1beta1') {
    v.fail('apiVersion', `unsupported version ${JSON.stringify(apiVersion)}; expected security.istio.io/v1 or security.istio.io/v1beta1`);
  }
  const { name, namespace } = v.metadata(root['metadata'], defaultNamespace);
  const spec = root['spec'] === undefined || root['spec'] === null ? {} : v.object(root['spec'], 'spec');
  v.onlyFields(spec, 'spec', ['selector', 'targetRef', 'targetRefs', 'jwtRules']);
  const { selector, targetRefs } = v.targeting(spec, namespace);
  const jwtRules =
    spec['jwtRules'] === undefined
      ? []
      : v
          .list(spec['jwtRules'], 'spec.jwtRules', requestAuthenticationLimits.maxJwtRules)
          .map((rule, i) => readJwtRule(v, rule, `spec.jwtRules[${i}]`));
  return {
    apiVersion: apiVersion as RequestAuthentication['apiVersion'],
    name,
    namespace,
    origin,
    ...(selector === undefined ? {} : { selector }),
    targetRefs,
    jwtRules,
  };
}

function readJwtRule(v: Validator, value: unknown, field: string): JwtRule {
  const rule = v.object(value, field);
  v.onlyFields(rule, field, jwtRuleFields);
  const issuer = v.string(rule['issuer'], `${field}.issuer`);
  if (issuer === '') v.fail(`${field}.issuer`, 'must not be empty');
  const audiences = rule['audiences'] === undefined ? [] : v.stringList(rule['audiences'], `${field}.audiences`);
  audiences.forEach((audience, i) => {
    if (audience === '') v.fail(`${field}.audiences[${i}]`, 'must not be empty');
  });

  let jwksUri: string | undefined;
  if (rule['jwksUri'] !== undefined) {
    jwksUri = v.string(rule['jwksUri'], `${field}.jwksUri`);
    if (!isHttpUrl(jwksUri)) v.fail(`${field}.jwksUri`, `"${jwksUri}" is not an http or https URL`);
  }
  let jwks: JSONWebKeySet | undefined;
  if (rule['jwks'] !== undefined) {
    if (jwksUri !== undefined) v.fail(`${field}.jwks`, 'jwks and jwksUri are mutually exclusive');
    const text = v.string(rule['jwks'], `${field}.jwks`, requestAuthenticationLimits.maxInlineJwksBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      v.fail(`${field}.jwks`, 'must be a JSON Web Key Set as a JSON string, and is not valid JSON');
    }
    const checked = checkJwks(parsed);
    if (!checked.ok) v.fail(`${field}.jwks`, `is not a JSON Web Key Set: it ${checked.problem}`);
    jwks = checked.jwks;
  }

  const locations: TokenLocation[] = [];
  if (rule['fromHeaders'] !== undefined) {
    v.list(rule['fromHeaders'], `${field}.fromHeaders`, requestAuthenticationLimits.maxLocations).forEach((entry, i) => {
      const path = `${field}.fromHeaders[${i}]`;
      const header = v.object(entry, path);
      v.onlyFields(header, path, ['name', 'prefix']);
      const name = headerName(v, header['name'], `${path}.name`);
      const prefix = header['prefix'] === undefined ? '' : v.string(header['prefix'], `${path}.prefix`);
      locations.push({ kind: 'header', name, prefix });
    });
  }
  for (const [key, kind] of [
    ['fromParams', 'param'],
    ['fromCookies', 'cookie'],
  ] as const) {
    if (rule[key] === undefined) continue;
    v.stringList(rule[key], `${field}.${key}`, requestAuthenticationLimits.maxLocations).forEach((name, i) => {
      if (name === '') v.fail(`${field}.${key}[${i}]`, 'must not be empty');
      if (kind === 'cookie' && !tokenPattern.test(name)) v.fail(`${field}.${key}[${i}]`, `"${name}" is not a valid cookie name`);
      locations.push({ kind, name });
    });
  }

  const outputPayloadToHeader =
    rule['outputPayloadToHeader'] === undefined
      ? undefined
      : headerName(v, rule['outputPayloadToHeader'], `${field}.outputPayloadToHeader`);
  const outputClaimToHeaders =
    rule['outputClaimToHeaders'] === undefined
      ? []
      : v.list(rule['outputClaimToHeaders'], `${field}.outputClaimToHeaders`).map((entry, i) => {
          const path = `${field}.outputClaimToHeaders[${i}]`;
          const output = v.object(entry, path);
          v.onlyFields(output, path, ['header', 'claim']);
          const header = headerName(v, output['header'], `${path}.header`);
          const claim = v.string(output['claim'], `${path}.claim`);
          if (claim === '') v.fail(`${path}.claim`, 'must not be empty');
          return { header, claim };
        });
  let forwardOriginalToken = false;
  if (rule['forwardOriginalToken'] !== undefined) {
    if (typeof rule['forwardOriginalToken'] !== 'boolean') v.fail(`${field}.forwardOriginalToken`, 'must be true or false');
    forwardOriginalToken = rule['forwardOriginalToken'];
  }
  const timeoutMs = rule['timeout'] === undefined ? undefined : duration(v, rule['timeout'], `${field}.timeout`);

  return {
    issuer,
    audiences,
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(jwks === undefined ? {} : { jwks }),
    locations: locations.length === 0 ? defaultTokenLocations : locations,
    ...(outputPayloadToHeader === undefined ? {} : { outputPayloadToHeader }),
    outputClaimToHeaders,
    forwardOriginalToken,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

function headerName(v: Validator, value: unknown, field: string): string {
  const name = v.string(value, field);
  if (!tokenPattern.test(name)) v.fail(field, `"${name}" is not a valid HTTP header name`);
  return name.toLowerCase();
}

/** A protobuf Duration as Kubernetes writes it (`5s`, `1.5s`), also `500ms`; more than 0 and at most 60 s. */
function duration(v: Validator, value: unknown, field: string): number {
  const text = v.string(value, field);
  const match = /^(\d{1,9})(?:\.(\d{1,9}))?(s|ms)$/.exec(text);
  if (match === null) v.fail(field, `"${text}" is not a duration such as "5s" or "500ms"`);
  const amount = Number(`${match[1] as string}.${match[2] ?? '0'}`);
  const ms = match[3] === 's' ? amount * 1000 : amount;
  if (ms <= 0 || ms > requestAuthenticationLimits.maxTimeoutMs) {
    v.fail(field, `must be more than 0 and at most ${requestAuthenticationLimits.maxTimeoutMs / 1000}s`);
  }
  return Math.ceil(ms);
}

/**
 * The compiled RequestAuthentications of a configuration: which issuer rules
 * apply to a workload. Immutable; swap the whole set to reload.
 */
export class RequestAuthenticationSet {
  /** One rule per distinct fingerprint, for warming key sets at start-up. */
  readonly issuers: readonly IssuerRule[];
  readonly documentCount: number;
  readonly ruleCount: number;
  private readonly targets: TargetIndex<readonly IssuerRule[]>;
  private readonly byWorkload = new WeakMap<WorkloadRef, readonly IssuerRule[]>();

  constructor(parts: {
    targets: TargetIndex<readonly IssuerRule[]>;
    issuers: readonly IssuerRule[];
    documentCount: number;
    ruleCount: number;
  }) {
    this.targets = parts.targets;
    this.issuers = parts.issuers;
    this.documentCount = parts.documentCount;
    this.ruleCount = parts.ruleCount;
  }

  /**
   * The rules of every RequestAuthentication that applies to the workload
   * (root namespace, its namespace, selector or targetRefs), in (namespace,
   * name, rule index) order. Memoized per workload object.
   */
  rulesFor(workload: WorkloadRef): readonly IssuerRule[] {
    let rules = this.byWorkload.get(workload);
    if (rules === undefined) {
      rules = Object.freeze(this.targets.find(workload).flat());
      this.byWorkload.set(workload, rules);
    }
    return rules;
  }
}

/**
 * Compiles RequestAuthentications with Gatehouse's per-issuer extensions
 * (gatehouse.yaml `jwt.defaults` / `jwt.issuers`).
 *
 * @throws ValidationError when an issuer's extensions are invalid, or a rule has no key source
 *   (neither jwksUri nor jwks, and discovery off for its issuer).
 * @example
 * const set = compileRequestAuthentications(loaded, (issuer) => config.jwt.issuers[issuer] ?? defaultIssuerExtensions, { rootNamespace });
 * const rules = set.rulesFor(input.workload);
 */
export function compileRequestAuthentications(
  loaded: LoadedRequestAuthentications,
  extensionsFor: (issuer: string) => IssuerExtensions,
  options: PolicyOptions = {},
): RequestAuthenticationSet {
  const targets = new TargetIndex<readonly IssuerRule[]>(options.rootNamespace ?? defaultRootNamespace);
  const issuers = new Map<string, IssuerRule>();
  const sorted = [...loaded.documents].sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  let ruleCount = 0;
  for (const document of sorted) {
    const rules = document.jwtRules.map((jwtRule, i) => {
      const field = `spec.jwtRules[${i}]`;
      const extensions = extensionsFor(jwtRule.issuer);
      // The effective settings (defaults merged) of the issuer; the config loader reports the exact place first.
      validateIssuerExtensions(extensions, 'gatehouse.yaml', `jwt.issuers[${JSON.stringify(jwtRule.issuer)}]`);
      if (jwtRule.jwksUri === undefined && jwtRule.jwks === undefined) {
        const fail = (problem: string): never => {
          throw new ValidationError(document.origin.file, document.origin.documentIndex, field, problem);
        };
        if (!extensions.discovery) {
          fail(`has neither jwksUri nor jwks, and OIDC discovery is not enabled for issuer ${jwtRule.issuer} (gatehouse.yaml jwt.issuers)`);
        }
        if (!isHttpUrl(jwtRule.issuer)) fail(`issuer "${jwtRule.issuer}" is not an http(s) URL, so its keys cannot be discovered`);
      }
      return compileRule(jwtRule, `${document.namespace}/${document.name}#${i}`, extensions);
    });
    ruleCount += rules.length;
    for (const rule of rules) if (!issuers.has(rule.fingerprint)) issuers.set(rule.fingerprint, rule);
    targets.add(Object.freeze(rules), document);
  }
  return new RequestAuthenticationSet({ targets, issuers: [...issuers.values()], documentCount: sorted.length, ruleCount });
}

function compileRule(rule: JwtRule, id: string, extensions: IssuerExtensions): IssuerRule {
  return {
    id,
    issuer: rule.issuer,
    audiences: rule.audiences,
    ...(rule.jwksUri === undefined ? {} : { jwksUri: rule.jwksUri }),
    ...(rule.jwks === undefined ? {} : { jwks: rule.jwks }),
    ...(rule.timeoutMs === undefined ? {} : { jwksFetchTimeoutMs: rule.timeoutMs }),
    locations: rule.locations,
    ...(rule.outputPayloadToHeader === undefined ? {} : { outputPayloadToHeader: rule.outputPayloadToHeader }),
    outputClaimToHeaders: rule.outputClaimToHeaders,
    forwardOriginalToken: rule.forwardOriginalToken,
    extensions,
    fingerprint: issuerRuleFingerprint(rule, extensions),
  };
}

/**
 * SHA-256 (hex) over everything that decides whether a token is valid under
 * a rule: issuer, audiences, key source and extensions, in a canonical JSON form.
 */
export function issuerRuleFingerprint(
  rule: Pick<IssuerRule, 'issuer' | 'audiences' | 'jwksUri' | 'jwks'>,
  extensions: IssuerExtensions,
): string {
  const material = {
    issuer: rule.issuer,
    audiences: [...rule.audiences].sort(),
    jwksUri: rule.jwksUri ?? null,
    jwks: rule.jwks ?? null,
    extensions,
  };
  return createHash('sha256').update(canonicalJson(material)).digest('hex');
}

/** JSON with object keys sorted, so equal values hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => compare(a, b));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
