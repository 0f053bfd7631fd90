/**
 * Enough of `kustomize build` to validate what our overlays produce, for the
 * fields deploy/ uses: resources (files and kustomization folders),
 * configMapGenerator (with `behavior: replace`), JSON 6902 patches,
 * images and namespace. Any other field is an error, so a kustomization
 * cannot use something this does not check. Generated names keep no hash
 * suffix: references are compared by the names the files use.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type KubernetesObject = Record<string, unknown> & { kind?: unknown; apiVersion?: unknown; metadata?: Record<string, unknown> };

export interface KustomizeBuild {
  readonly objects: KubernetesObject[];
  /** Every file the kustomizations read, by role. */
  readonly files: { resources: Set<string>; generated: Map<string, string>; patches: Set<string>; configurations: Set<string> };
  readonly problems: string[];
}

const KUSTOMIZATION_FIELDS = [
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'configMapGenerator',
  'patches',
  'images',
  'generatorOptions',
  'configurations',
];
const GENERATOR_FIELDS = ['name', 'files', 'behavior', 'options'];
const PATCH_FIELDS = ['path', 'target'];
const TARGET_FIELDS = ['group', 'version', 'kind', 'name'];
const IMAGE_FIELDS = ['name', 'newName', 'newTag', 'digest'];

/** Reads every YAML document of a file. */
export function readDocuments(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { uniqueKeys: true }).flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
    const value: unknown = document.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Builds the kustomization in `dir`.
 *
 * @example
 * const { objects, problems } = buildKustomization('deploy/kubernetes/overlays/dev');
 */
export function buildKustomization(dir: string): KustomizeBuild {
  const files = {
    resources: new Set<string>(),
    generated: new Map<string, string>(),
    patches: new Set<string>(),
    configurations: new Set<string>(),
  };
  const problems: string[] = [];
  const objects = build(dir, files, problems);
  return { objects, files, problems };
}

function build(dir: string, files: KustomizeBuild['files'], problems: string[]): KubernetesObject[] {
  const file = path.join(dir, 'kustomization.yaml');
  const fail = (problem: string): KubernetesObject[] => (problems.push(`${file}: ${problem}`), []);
  if (!existsSync(file)) return fail('missing');
  const [kustomization] = readDocuments(file);
  if (!isObject(kustomization)) return fail('not a mapping');
  for (const key of Object.keys(kustomization)) if (!KUSTOMIZATION_FIELDS.includes(key)) problems.push(`${file}: unknown field ${key}`);
  if (kustomization.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || kustomization.kind !== 'Kustomization') {
    problems.push(`${file}: must be kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  const local = (entry: unknown, field: string): string | undefined => {
    if (typeof entry !== 'string' || entry === '') return void problems.push(`${file}: ${field} must be a path`);
    const resolved = path.resolve(dir, entry);
    if (!existsSync(resolved)) return void problems.push(`${file}: ${field} ${entry} does not exist`);
    return resolved;
  };

  const objects: KubernetesObject[] = [];
  for (const entry of list(kustomization.resources)) {
    const resolved = local(entry, 'resources');
    if (resolved === undefined) continue;
    if (statSync(resolved).isDirectory()) {
      objects.push(...build(resolved, files, problems));
      continue;
    }
    files.resources.add(resolved);
    for (const document of readDocuments(resolved)) {
      if (isObject(document)) objects.push(structuredClone(document));
      else problems.push(`${resolved}: a resource document must be a mapping`);
    }
  }

  for (const generator of list(kustomization.configMapGenerator)) {
    if (!isObject(generator)) {
      problems.push(`${file}: configMapGenerator entries must be mappings`);
      continue;
    }
    for (const key of Object.keys(generator))
      if (!GENERATOR_FIELDS.includes(key)) problems.push(`${file}: unknown configMapGenerator field ${key}`);
    const name = String(generator.name);
    const data: Record<string, string> = {};
    for (const entry of list(generator.files)) {
      const [key, source] = typeof entry === 'string' && entry.includes('=') ? entry.split('=', 2) : [undefined, entry];
      const resolved = local(source, `configMapGenerator ${name} files`);
      if (resolved === undefined) continue;
      files.generated.set(resolved, name);
      data[key ?? path.basename(resolved)] = readFileSync(resolved, 'utf8');
    }
    const configMap: KubernetesObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
    const existing = objects.findIndex((object) => object.kind === 'ConfigMap' && object.metadata?.name === name);
    if (generator.behavior === 'replace' || generator.behavior === 'merge') {
      if (existing === -1)
        problems.push(`${file}: configMapGenerator ${name} has behavior ${String(generator.behavior)} but no base generates it`);
      else objects[existing] = configMap;
    } else if (generator.behavior === undefined || generator.behavior === 'create') {
      if (existing !== -1) problems.push(`${file}: configMapGenerator ${name} is generated twice`);
      else objects.push(configMap);
    } else {
      problems.push(`${file}: configMapGenerator ${name} has an unknown behavior`);
    }
  }

  for (const patch of list(kustomization.patches)) {
    if (!isObject(patch) || !isObject(patch.target)) {
      problems.push(`${file}: patches entries need path and target`);
      continue;
    }
    for (const key of Object.keys(patch)) if (!PATCH_FIELDS.includes(key)) problems.push(`${file}: unknown patches field ${key}`);
    for (const key of Object.keys(patch.target))
      if (!TARGET_FIELDS.includes(key)) problems.push(`${file}: unknown patches target field ${key}`);
    const resolved = local(patch.path, 'patches path');
    if (resolved === undefined) continue;
    files.patches.add(resolved);
    const target = patch.target;
    const matches = objects.filter((object) => {
      const [group, version] = String(object.apiVersion).includes('/')
        ? String(object.apiVersion).split('/')
        : ['', String(object.apiVersion)];
      return (
        object.kind === target.kind &&
        object.metadata?.name === target.name &&
        (target.group === undefined || target.group === group) &&
        (target.version === undefined || target.version === version)
      );
    });
    if (matches.length !== 1) {
      problems.push(`${file}: patch ${String(patch.path)} matches ${matches.length} objects, not one`);
      continue;
    }
    const [operations] = readDocuments(resolved);
    try {
      applyJsonPatch(matches[0]!, operations);
    } catch (error) {
      problems.push(`${resolved}: ${(error as Error).message}`);
    }
  }

  for (const image of list(kustomization.images)) {
    if (!isObject(image)) continue;
    for (const key of Object.keys(image)) if (!IMAGE_FIELDS.includes(key)) problems.push(`${file}: unknown images field ${key}`);
    for (const container of containersOf(objects)) {
      const current = String(container.image);
      const name = current.replace(/[:@].*$/, '');
      if (name !== image.name) continue;
      const tag =
        typeof image.digest === 'string'
          ? `@${image.digest}`
          : typeof image.newTag === 'string' || typeof image.newTag === 'number'
            ? `:${image.newTag}`
            : current.slice(name.length);
      container.image = `${typeof image.newName === 'string' ? image.newName : name}${tag}`;
    }
  }

  for (const entry of list(kustomization.configurations)) {
    const resolved = local(entry, 'configurations');
    if (resolved !== undefined) files.configurations.add(resolved);
  }

  if (typeof kustomization.namespace === 'string') {
    for (const object of objects)
      if (object.kind !== 'Namespace') object.metadata = { ...object.metadata, namespace: kustomization.namespace };
  }
  return objects;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The containers of Deployments and Knative Services among `objects`. */
export function containersOf(objects: readonly KubernetesObject[]): Record<string, unknown>[] {
  return objects.flatMap((object) => {
    const spec = podSpecOf(object);
    return spec ? (list(spec.containers) as Record<string, unknown>[]) : [];
  });
}

/** The pod spec of a Deployment or a Knative Service. */
export function podSpecOf(object: KubernetesObject): Record<string, unknown> | undefined {
  if (object.kind !== 'Deployment' && !(object.kind === 'Service' && String(object.apiVersion).startsWith('serving.knative.dev/')))
    return undefined;
  const template = (object.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template;
  return template?.spec;
}

/**
 * Applies RFC 6902 operations (add, replace, remove, test) to `target` in place.
 *
 * @throws Error naming the operation that does not apply.
 */
export function applyJsonPatch(target: Record<string, unknown>, operations: unknown): void {
  if (!Array.isArray(operations)) throw new Error('a JSON patch is a list of operations');
  operations.forEach((operation: unknown, i) => {
    if (!isObject(operation) || typeof operation.path !== 'string') throw new Error(`operation ${i}: needs op and path`);
    const tokens = operation.path
      .split('/')
      .slice(1)
      .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error(`operation ${i}: cannot ${String(operation.op)} the whole document`);
    let parent: unknown = target;
    for (const token of tokens) {
      parent = Array.isArray(parent) ? parent[Number(token)] : isObject(parent) ? parent[token] : undefined;
      if (parent === undefined) throw new Error(`operation ${i}: ${operation.path} does not exist`);
    }
    const container = parent as Record<string, unknown> | unknown[];
    const exists = Array.isArray(container) ? Number(last) < container.length : Object.hasOwn(container, last);
    switch (operation.op) {
      case 'add':
        if (Array.isArray(container)) container.splice(last === '-' ? container.length : Number(last), 0, operation.value);
        else container[last] = operation.value;
        return;
      case 'replace':
        if (!exists) throw new Error(`operation ${i}: ${operation.path} does not exist`);
        (container as Record<string, unknown>)[last] = operation.value;
        return;
      case 'remove':
        if (!exists) throw new Error(`operation ${i}: ${operation.path} does not exist`);
        if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
        return;
      case 'test':
        if (JSON.stringify((container as Record<string, unknown>)[last]) !== JSON.stringify(operation.value)) {
          throw new Error(`operation ${i}: test of ${operation.path} failed`);
        }
        return;
      default:
        throw new Error(`operation ${i}: unsupported op ${String(operation.op)}`);
    }
  });
}
