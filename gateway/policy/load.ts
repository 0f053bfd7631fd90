/**
 * Reading policy files: files and directories → YAML documents → typed
 * policies. Documents of kinds Gatehouse does not evaluate are reported as
 * skipped, never silently dropped, so later features can claim their kinds.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ValidationError } from '../errors.js';
import { compilePolicySet, type CompiledPolicySet } from './compile.js';
import { defaultPolicyNamespace } from './types.js';
import type { AuthorizationPolicy, LoadedPolicies, PolicyDocumentSource, PolicyOptions, PolicyOrigin, SkippedDocument } from './types.js';
import { validateAuthorizationPolicy } from './validate.js';

/** Bounds on what one policy file may hold. */
export const fileLimits = {
  maxFileBytes: 4 * 1024 * 1024,
  maxDocumentsPerFile: 10_000,
  maxYamlAliases: 100,
} as const;

const policyFileExtensions = new Set(['.yaml', '.yml', '.json']);

/**
 * Reads policy files. A directory contributes its `*.yaml`, `*.yml` and
 * `*.json` files (not recursively), sorted by name.
 *
 * @throws ValidationError when a path cannot be read or a file is larger than 4 MiB.
 */
export async function readPolicySources(paths: string[]): Promise<PolicyDocumentSource[]> {
  const sources: PolicyDocumentSource[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((error: unknown) => unreadable(path, error));
    if (!info.isDirectory()) {
      sources.push(await readSource(path, info.size));
      continue;
    }
    const names = await readdir(path).catch((error: unknown) => unreadable(path, error));
    for (const name of names.filter((entry) => policyFileExtensions.has(extname(entry).toLowerCase())).sort()) {
      const file = join(path, name);
      const fileInfo = await stat(file).catch((error: unknown) => unreadable(file, error));
      if (fileInfo.isFile()) sources.push(await readSource(file, fileInfo.size));
    }
  }
  return sources;
}

async function readSource(file: string, size: number): Promise<PolicyDocumentSource> {
  if (size > fileLimits.maxFileBytes) throw tooLarge(file);
  const text = await readFile(file, 'utf8').catch((error: unknown) => unreadable(file, error));
  return { file, text };
}

function unreadable(path: string, error: unknown): never {
  const detail = error instanceof Error && 'code' in error ? String(error.code) : String(error);
  throw new ValidationError(path, undefined, '', `cannot be read (${detail})`);
}

function tooLarge(file: string): ValidationError {
  return new ValidationError(file, undefined, '', `is larger than ${fileLimits.maxFileBytes} bytes`);
}

/**
 * Reads the documents of one kind. The key of `documentReaders` is
 * `<api group>/<kind>`; add an entry here to teach Gatehouse a new kind.
 */
type DocumentReader = (document: unknown, origin: PolicyOrigin, options: Required<PolicyOptions>) => AuthorizationPolicy;

const documentReaders: ReadonlyMap<string, DocumentReader> = new Map([
  [
    'security.istio.io/AuthorizationPolicy',
    (document, origin, options) => validateAuthorizationPolicy(document, origin, options.defaultNamespace),
  ],
]);

/**
 * Parses multi-document YAML (or JSON) texts into validated policies.
 * Empty documents are ignored; documents of other kinds and CUSTOM policies
 * are listed in `skipped` with a note. Shadow policies are loaded like any
 * other (`policy.shadow`); the compiler keeps them out of the live set.
 *
 * @throws ValidationError naming file, document index and field.
 * @example
 * const loaded = parsePolicyDocuments([{ file: 'inline.yaml', text }]);
 */
/** Kinds in the same files that other stages read (request authentication, delegation-policy.ts, kubernetes/access-policy.ts). */
const KINDS_READ_ELSEWHERE = new Set([
  'security.istio.io/RequestAuthentication',
  'gatehouse.dev/DelegationPolicy',
  'gatehouse.dev/KubernetesAccessPolicy',
]);

export function parsePolicyDocuments(sources: PolicyDocumentSource[], options: PolicyOptions = {}): LoadedPolicies {
  const resolved: Required<PolicyOptions> = {
    rootNamespace: options.rootNamespace ?? 'istio-system',
    defaultNamespace: options.defaultNamespace ?? defaultPolicyNamespace,
  };
  const policies: AuthorizationPolicy[] = [];
  const skipped: SkippedDocument[] = [];
  const seen = new Map<string, PolicyOrigin>();

  for (const source of sources) {
    for (const { document, origin } of parseDocuments(source)) {
      const header = readHeader(document, origin);
      const reader = documentReaders.get(`${header.group}/${header.kind}`);
      if (reader === undefined) {
        if (KINDS_READ_ELSEWHERE.has(`${header.group}/${header.kind}`)) continue;
        skipped.push({
          ...origin,
          kind: header.kind,
          ...nameOf(header),
          note: `${header.apiVersion} ${header.kind} is not a kind Gatehouse evaluates`,
        });
        continue;
      }
      const policy = reader(document, origin, resolved);
      const id = `${policy.namespace}/${policy.name}`;
      const first = seen.get(id);
      if (first !== undefined) {
        throw new ValidationError(
          origin.file,
          origin.documentIndex,
          'metadata.name',
          `duplicate policy ${id}, first defined in ${first.file}#${first.documentIndex}`,
        );
      }
      seen.set(id, origin);
      policies.push(policy);
      if (policy.action === 'CUSTOM') {
        skipped.push({
          ...origin,
          kind: header.kind,
          name: id,
          note: 'action CUSTOM is not evaluated: Gatehouse is itself the custom provider',
        });
      }
    }
  }
  return { policies, skipped };
}

/**
 * The documents of each source, parsed once: several readers (Istio policies,
 * RequestAuthentication, DelegationPolicy, KubernetesAccessPolicy) go through
 * the same sources, and YAML parsing is a measured part of cold start. The
 * documents are shared, so readers must not change them.
 */
const parsedSources = new WeakMap<PolicyDocumentSource, readonly { document: unknown; origin: PolicyOrigin }[]>();

/** The non-empty YAML documents of one source, each with its origin. */
export function parseDocuments(source: PolicyDocumentSource): readonly { document: unknown; origin: PolicyOrigin }[] {
  let documents = parsedSources.get(source);
  if (documents === undefined) {
    documents = [...parseSource(source)];
    parsedSources.set(source, documents);
  }
  return documents;
}

function* parseSource(source: PolicyDocumentSource): Generator<{ document: unknown; origin: PolicyOrigin }> {
  if (source.text.length > fileLimits.maxFileBytes) throw tooLarge(source.file);
  const parsed = parseAllDocuments(source.text, { uniqueKeys: true, prettyErrors: true });
  if ('empty' in parsed) {
    if (parsed.errors.length > 0) throw new ValidationError(source.file, 0, '', `invalid YAML: ${firstLine(parsed.errors[0]?.message)}`);
    return;
  }
  const documents = parsed;
  if (documents.length > fileLimits.maxDocumentsPerFile) {
    throw new ValidationError(source.file, undefined, '', `has more than ${fileLimits.maxDocumentsPerFile} documents`);
  }
  for (let documentIndex = 0; documentIndex < documents.length; documentIndex++) {
    const yamlDocument = documents[documentIndex];
    if (yamlDocument === undefined) continue;
    const origin = { file: source.file, documentIndex };
    const error = yamlDocument.errors[0];
    if (error !== undefined) throw new ValidationError(source.file, documentIndex, '', `invalid YAML: ${firstLine(error.message)}`);
    if (yamlDocument.contents === null) continue; // `---` with nothing after it
    let document: unknown;
    try {
      document = yamlDocument.toJS({ maxAliasCount: fileLimits.maxYamlAliases });
    } catch (cause) {
      throw new ValidationError(
        source.file,
        documentIndex,
        '',
        `invalid YAML: ${firstLine(cause instanceof Error ? cause.message : String(cause))}`,
      );
    }
    if (document === null || document === undefined) continue;
    yield { document, origin };
  }
}

export interface DocumentHeader {
  readonly apiVersion: string;
  readonly group: string;
  readonly kind: string;
  readonly name?: string;
}

/**
 * Reads every document of one kind (`group/kind`) from the sources with
 * `read`, refusing a second document with the same namespace and name. For
 * the kinds that sit in the policy files beside AuthorizationPolicies.
 *
 * @example
 * const documents = readDocumentsOfKind(sources, 'gatehouse.dev', 'DelegationPolicy', (document, origin) => validate(document, origin));
 */
export function readDocumentsOfKind<T extends { readonly namespace: string; readonly name: string }>(
  sources: readonly PolicyDocumentSource[],
  group: string,
  kind: string,
  read: (document: unknown, origin: PolicyOrigin) => T,
): T[] {
  const documents: T[] = [];
  const seen = new Map<string, PolicyOrigin>();
  for (const source of sources) {
    for (const { document, origin } of parseDocuments(source)) {
      const header = readHeader(document, origin);
      if (header.group !== group || header.kind !== kind) continue;
      const parsed = read(document, origin);
      const id = `${parsed.namespace}/${parsed.name}`;
      const first = seen.get(id);
      if (first !== undefined) {
        throw new ValidationError(
          origin.file,
          origin.documentIndex,
          'metadata.name',
          `duplicate ${kind} ${id}, first defined in ${first.file}#${first.documentIndex}`,
        );
      }
      seen.set(id, origin);
      documents.push(parsed);
    }
  }
  return documents;
}

/** `apiVersion`, its API group, `kind` and `metadata.name` of a document, checked just enough to pick its reader. */
export function readHeader(document: unknown, origin: PolicyOrigin): DocumentHeader {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ValidationError(origin.file, origin.documentIndex, '', 'document must be a mapping with apiVersion and kind');
  }
  const { apiVersion, kind, metadata } = document as Record<string, unknown>;
  if (typeof apiVersion !== 'string' || apiVersion === '')
    throw new ValidationError(origin.file, origin.documentIndex, 'apiVersion', 'must be a non-empty string');
  if (typeof kind !== 'string' || kind === '')
    throw new ValidationError(origin.file, origin.documentIndex, 'kind', 'must be a non-empty string');
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? '' : apiVersion.slice(0, slash);
  const name = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['name'] : undefined;
  return { apiVersion, group, kind, ...(typeof name === 'string' ? { name } : {}) };
}

function nameOf(header: DocumentHeader): { name?: string } {
  return header.name === undefined ? {} : { name: header.name };
}

function firstLine(message: string | undefined): string {
  return (message ?? 'unknown error').split('\n', 1)[0] ?? 'unknown error';
}

/**
 * Reads, validates and compiles policy files or directories in one step.
 *
 * @throws ValidationError naming the file, document index and field of the first problem.
 */
export async function loadPolicySet(paths: string[], options: PolicyOptions = {}): Promise<CompiledPolicySet> {
  return compilePolicySet(parsePolicyDocuments(await readPolicySources(paths), options), options);
}
