/**
 * Policy test case files (docs/policy-tests.md): YAML or JSON with a list of
 * cases, each a request, an optional verified token, and the expected
 * decision. Parsed once, strictly, into types that cannot be invalid; every
 * problem names the file, the case index and the field.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseDocument } from 'yaml';
import { DecisionCode, ValidationError } from '../errors.js';
import type { RawCheckRequest } from '../envoy/check-request.js';
import { toCheckRequest } from '../envoy/short-form.js';
import { TokenErrorCode } from '../identity/issuer-rule.js';

/** A verified token's result, injected without any token (test cases only; `serve` has no such input). */
export interface CaseAuth {
  /** `iss/sub`. */
  readonly principal: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly audiences: readonly string[];
  readonly presenter?: string;
}

/** What a case expects. Only `allowed` is required; every other field is compared when set. */
export interface CaseExpectation {
  readonly allowed: boolean;
  readonly code?: string;
  readonly httpStatus?: number;
  readonly policy?: string;
  readonly rule?: number;
  readonly audited?: readonly string[];
  /** The candidate outcome when shadow policies apply (docs/policies.md#shadow-mode). */
  readonly shadow?: ShadowExpectation;
}

export interface ShadowExpectation {
  readonly allowed?: boolean;
  readonly code?: string;
  readonly policy?: string;
  readonly rule?: number;
  readonly diverged?: boolean;
}

export interface PolicyTestCase {
  /** Position in the file's `cases`, from 0. */
  readonly index: number;
  readonly name: string;
  readonly request: RawCheckRequest;
  readonly auth?: CaseAuth;
  readonly expect: CaseExpectation;
}

export interface CaseFile {
  readonly file: string;
  readonly cases: readonly PolicyTestCase[];
}

/** Bounds on one case file. */
export const caseFileLimits = { maxFileBytes: 4 * 1024 * 1024, maxCases: 10_000, maxYamlAliases: 100 } as const;

const KNOWN_CODES: ReadonlySet<string> = new Set<string>([...Object.values(DecisionCode), ...Object.values(TokenErrorCode)]);
const caseFileExtensions = new Set(['.yaml', '.yml', '.json']);

/**
 * Parses one case file.
 *
 * @throws ValidationError naming the file, the case (`cases[2]`) and the field.
 * @example
 * const { cases } = parseCaseFile('cases:\n  - { name: read, request: { method: GET }, expect: { allowed: true } }\n', 'a.yaml');
 */
export function parseCaseFile(text: string, file: string): CaseFile {
  const fields = new CaseFieldReader(file);
  if (Buffer.byteLength(text) > caseFileLimits.maxFileBytes) fields.fail('', `is larger than ${caseFileLimits.maxFileBytes} bytes`);
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const error = document.errors[0];
  if (error !== undefined) fields.fail('', `invalid YAML: ${error.message.split('\n', 1)[0] ?? ''}`);
  let root: unknown;
  try {
    root = document.toJS({ maxAliasCount: caseFileLimits.maxYamlAliases });
  } catch (cause) {
    fields.fail('', `invalid YAML: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  const top = fields.mapping(root, '', ['cases']);
  const list = fields.list(top.cases, 'cases');
  if (list.length === 0) fields.fail('cases', 'must hold at least one case');
  if (list.length > caseFileLimits.maxCases) fields.fail('cases', `has more than ${caseFileLimits.maxCases} cases`);
  const names = new Map<string, number>();
  const cases = list.map((item, index) => {
    const parsed = readCase(fields, item, index);
    const first = names.get(parsed.name);
    if (first !== undefined) fields.fail(`cases[${index}].name`, `'${parsed.name}' is also the name of cases[${first}]`);
    names.set(parsed.name, index);
    return parsed;
  });
  return { file, cases };
}

function readCase(fields: CaseFieldReader, value: unknown, index: number): PolicyTestCase {
  const at = `cases[${index}]`;
  const item = fields.mapping(value, at, ['name', 'request', 'auth', 'expect']);
  const name = fields.string(item.name, `${at}.name`);
  if (item.request === undefined) fields.fail(`${at}.request`, 'is required (the short form of gatehouse check, or a CheckRequest)');
  let request: RawCheckRequest;
  try {
    request = toCheckRequest(item.request);
  } catch (error) {
    fields.fail(`${at}.request`, error instanceof Error ? error.message : String(error));
  }
  if (item.expect === undefined) fields.fail(`${at}.expect`, 'is required');
  return {
    index,
    name,
    request,
    ...(item.auth === undefined ? {} : { auth: readAuth(fields, item.auth, `${at}.auth`) }),
    expect: readExpectation(fields, item.expect, `${at}.expect`),
  };
}

function readAuth(fields: CaseFieldReader, value: unknown, at: string): CaseAuth {
  const auth = fields.mapping(value, at, ['principal', 'claims', 'audiences', 'presenter', 'actors']);
  const claims: Record<string, unknown> = { ...(auth.claims === undefined ? {} : fields.mapping(auth.claims, `${at}.claims`, undefined)) };
  const { iss, sub, aud, azp } = claims;
  let principal: string;
  if (auth.principal !== undefined) principal = fields.string(auth.principal, `${at}.principal`);
  else if (typeof iss === 'string' && typeof sub === 'string') principal = `${iss}/${sub}`;
  else return fields.fail(`${at}.principal`, 'is required unless claims.iss and claims.sub are set');
  // Istio's request principal is `iss/sub`: a case that names only the principal gets the claims policies read.
  const slash = principal.lastIndexOf('/');
  if (slash > 0 && iss === undefined && sub === undefined) {
    claims.iss = principal.slice(0, slash);
    claims.sub = principal.slice(slash + 1);
  }
  if (auth.actors !== undefined) {
    if (Object.hasOwn(claims, 'act')) fields.fail(`${at}.actors`, 'set either actors or claims.act, not both');
    const actors = fields.list(auth.actors, `${at}.actors`).map((actor, i) => fields.string(actor, `${at}.actors[${i}]`));
    if (actors.length === 0) fields.fail(`${at}.actors`, 'must name at least the current actor');
    // RFC 8693 §4.1: the outermost act is the current actor, nested ones are prior actors.
    claims.act = actors.reduceRight<Record<string, unknown> | undefined>(
      (inner, actor) => ({ sub: actor, ...(inner ? { act: inner } : {}) }),
      undefined,
    );
  }
  const audiences =
    auth.audiences !== undefined
      ? fields.list(auth.audiences, `${at}.audiences`).map((audience, i) => fields.string(audience, `${at}.audiences[${i}]`))
      : typeof aud === 'string'
        ? [aud]
        : Array.isArray(aud)
          ? aud.filter((item): item is string => typeof item === 'string')
          : [];
  const presenter =
    auth.presenter !== undefined ? fields.string(auth.presenter, `${at}.presenter`) : typeof azp === 'string' ? azp : undefined;
  return { principal, claims, audiences, ...(presenter === undefined ? {} : { presenter }) };
}

function readExpectation(fields: CaseFieldReader, value: unknown, at: string): CaseExpectation {
  const expect = fields.mapping(value, at, ['allowed', 'code', 'httpStatus', 'policy', 'rule', 'audited', 'shadow']);
  if (expect.allowed === undefined) fields.fail(`${at}.allowed`, 'is required (true or false)');
  const expectation: {
    -readonly [K in keyof CaseExpectation]: CaseExpectation[K];
  } = { allowed: fields.boolean(expect.allowed, `${at}.allowed`) };
  if (expect.code !== undefined) expectation.code = fields.code(expect.code, `${at}.code`);
  if (expect.httpStatus !== undefined) expectation.httpStatus = fields.integer(expect.httpStatus, `${at}.httpStatus`, 200, 599);
  if (expect.policy !== undefined) expectation.policy = fields.policyName(expect.policy, `${at}.policy`);
  if (expect.rule !== undefined) expectation.rule = fields.integer(expect.rule, `${at}.rule`, 0, 1_000_000);
  if (expect.audited !== undefined) {
    expectation.audited = fields.list(expect.audited, `${at}.audited`).map((name, i) => fields.policyName(name, `${at}.audited[${i}]`));
  }
  if (expect.shadow !== undefined) {
    const shadow = fields.mapping(expect.shadow, `${at}.shadow`, ['allowed', 'code', 'policy', 'rule', 'diverged']);
    expectation.shadow = {
      ...(shadow.allowed === undefined ? {} : { allowed: fields.boolean(shadow.allowed, `${at}.shadow.allowed`) }),
      ...(shadow.code === undefined ? {} : { code: fields.code(shadow.code, `${at}.shadow.code`) }),
      ...(shadow.policy === undefined ? {} : { policy: fields.policyName(shadow.policy, `${at}.shadow.policy`) }),
      ...(shadow.rule === undefined ? {} : { rule: fields.integer(shadow.rule, `${at}.shadow.rule`, 0, 1_000_000) }),
      ...(shadow.diverged === undefined ? {} : { diverged: fields.boolean(shadow.diverged, `${at}.shadow.diverged`) }),
    };
  }
  return expectation;
}

/** Typed reads out of parsed YAML, failing with the field's path. */
class CaseFieldReader {
  constructor(private readonly file: string) {}

  fail(field: string, problem: string): never {
    throw new ValidationError(this.file, undefined, field, problem);
  }

  mapping(value: unknown, field: string, allowed: readonly string[] | undefined): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(field || '(top level)', `must be a mapping, not ${describe(value)}`);
    const record = value as Record<string, unknown>;
    if (allowed !== undefined) {
      for (const key of Object.keys(record)) {
        if (!allowed.includes(key)) this.fail(field ? `${field}.${key}` : key, `unknown field (expected one of: ${allowed.join(', ')})`);
      }
    }
    return record;
  }

  list(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(field, `must be a list, not ${describe(value)}`);
    return value;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string' || value === '') this.fail(field, `must be a non-empty string, not ${describe(value)}`);
    return value;
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, not ${describe(value)}`);
    return value;
  }

  integer(value: unknown, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `must be a whole number from ${min} to ${max}, not ${describe(value)}`);
    }
    return value;
  }

  code(value: unknown, field: string): string {
    const code = this.string(value, field);
    if (!KNOWN_CODES.has(code))
      this.fail(field, `'${code}' is not a decision code (docs/responses.md), e.g. ALLOWED, POLICY_DENIED, NO_ALLOW_MATCH`);
    return code;
  }

  policyName(value: unknown, field: string): string {
    const name = this.string(value, field);
    if (!/^[^/\s]+\/[^/\s]+$/.test(name)) this.fail(field, `'${name}' is not a policy name: write namespace/name`);
    return name;
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return 'a mapping';
}

/**
 * The case files among `paths`: files as given, folders searched (recursively,
 * sorted) for `*.yaml`, `*.yml` and `*.json`.
 *
 * @throws ValidationError when a path cannot be read.
 */
export async function findCaseFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((error: unknown) => unreadable(path, error));
    if (info.isDirectory()) files.push(...(await filesUnder(path)));
    else files.push(path);
  }
  return files;
}

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true }).catch((error: unknown) => unreadable(folder, error));
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (entry.isFile() && caseFileExtensions.has(extname(entry.name).toLowerCase())) files.push(path);
  }
  return files;
}

/**
 * Reads and parses one case file.
 *
 * @throws ValidationError naming the file, case and field.
 */
export async function readCaseFile(file: string): Promise<CaseFile> {
  const info = await stat(file).catch((error: unknown) => unreadable(file, error));
  if (info.size > caseFileLimits.maxFileBytes)
    throw new ValidationError(file, undefined, '', `is larger than ${caseFileLimits.maxFileBytes} bytes`);
  const text = await readFile(file, 'utf8').catch((error: unknown) => unreadable(file, error));
  return parseCaseFile(text, file);
}

function unreadable(path: string, error: unknown): never {
  const detail = error instanceof Error && 'code' in error ? String(error.code) : String(error);
  throw new ValidationError(path, undefined, '', `cannot be read (${detail})`);
}
