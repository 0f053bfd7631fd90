/**
 * Validates Kubernetes, Istio and Knative documents against the models of
 * `kubernetes-models`, `@kubernetes-models/istio` and
 * `@kubernetes-models/knative`, twice:
 *
 * - `validate()` checks each document against the kind's OpenAPI (or CRD)
 *   JSON schema: types, enums, formats, required fields;
 * - those schemas allow unknown fields (the API server prunes them), so the
 *   same documents are also type-checked as object literals of the models'
 *   TypeScript interfaces, where an unknown (misspelt) field is an error, as
 *   with `kubectl apply --validate=strict`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface KubernetesDocument {
  /** Where the document is, for messages: `file#index`. */
  readonly label: string;
  readonly document: Record<string, unknown>;
}

/** The module of the model for `apiVersion` and `kind`, or undefined when no package has one. */
export function modelModule(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(kind) || version === undefined) return undefined;
  if (group === '') return `kubernetes-models/${version}/${kind}`;
  if (group!.endsWith('.istio.io')) return `@kubernetes-models/istio/${group}/${version}/${kind}`;
  if (group!.endsWith('.knative.dev')) return `@kubernetes-models/knative/${group}/${version}/${kind}`;
  if (!group!.includes('.') || group!.endsWith('.k8s.io')) return `kubernetes-models/${group}/${version}/${kind}`;
  return undefined;
}

interface ModelClass {
  new (data: Record<string, unknown>): { validate(): void };
}

/** The model class, or undefined when the package has none for the kind. */
async function loadModel(module: string, kind: string): Promise<ModelClass | undefined> {
  try {
    const loaded = (await import(module)) as Record<string, unknown>;
    return typeof loaded[kind] === 'function' ? (loaded[kind] as ModelClass) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Problems of each document (by label), empty when it validates both ways.
 *
 * @example
 * const problems = await validateKubernetesDocuments([{ label: 'a.yaml#0', document }]);
 */
export async function validateKubernetesDocuments(documents: readonly KubernetesDocument[]): Promise<Map<string, string[]>> {
  const problems = new Map<string, string[]>(documents.map((item) => [item.label, []]));
  const typed: { item: KubernetesDocument; module: string; kind: string }[] = [];
  for (const item of documents) {
    const { apiVersion, kind } = item.document;
    const module = typeof apiVersion === 'string' && typeof kind === 'string' ? modelModule(apiVersion, kind) : undefined;
    const model = module === undefined ? undefined : await loadModel(module, kind as string);
    if (module === undefined || model === undefined) {
      problems.get(item.label)!.push(`no schema for ${String(apiVersion)} ${String(kind)} in kubernetes-models`);
      continue;
    }
    try {
      new model(item.document).validate();
    } catch (error) {
      problems.get(item.label)!.push(`schema: ${error instanceof Error ? error.message : String(error)}`);
    }
    typed.push({ item, module, kind: kind as string });
  }
  for (const [label, messages] of strictFieldProblems(typed)) problems.get(label)!.push(...messages);
  return problems;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Type-checks every document as a literal of its model's interface, in one program. */
function strictFieldProblems(typed: readonly { item: KubernetesDocument; module: string; kind: string }[]): Map<string, string[]> {
  const result = new Map<string, string[]>();
  if (typed.length === 0) return result;
  const file = path.join(repoRoot, '__deploy_manifests__.mts');
  const lines: string[] = [];
  const ranges: { label: string; start: number; end: number }[] = [];
  typed.forEach(({ module, kind }, i) => lines.push(`import type { I${kind} as T${i} } from ${JSON.stringify(module)};`));
  let offset = lines.join('\n').length + 1;
  typed.forEach(({ item }, i) => {
    const line = `export const d${i}: T${i} = ${JSON.stringify(item.document)};`;
    ranges.push({ label: item.label, start: offset, end: offset + line.length });
    lines.push(line);
    offset += line.length + 1;
  });
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es5.d.ts'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  // The compiler's own host, with the one in-memory file added.
  const host = ts.createCompilerHost(options);
  const defaults = ts.createCompilerHost(options);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, text, language) : defaults.getSourceFile(name, language, ...rest);
  host.fileExists = (name) => name === file || defaults.fileExists(name);
  host.readFile = (name) => (name === file ? text : defaults.readFile(name));
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file)!;
  const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
  for (const diagnostic of diagnostics) {
    const start = diagnostic.start ?? 0;
    const range = ranges.find((candidate) => start >= candidate.start && start < candidate.end);
    const label = range?.label ?? '(imports)';
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    const list = result.get(label) ?? [];
    list.push(`fields: ${message.length > 400 ? `${message.slice(0, 400)}…` : message}`);
    result.set(label, list);
  }
  const importProblems = result.get('(imports)');
  if (importProblems) throw new Error(`cannot load the models' types: ${importProblems.join('; ')}`);
  return result;
}
