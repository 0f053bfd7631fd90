/**
 * A small strict checker for configuration files no npm package has a schema
 * for (kube-apiserver's kubeconfig and AuthorizationConfiguration, Istio's
 * MeshConfig): every field must be declared, with its type; unknown fields
 * are errors.
 */
export type Shape =
  | 'string'
  | 'boolean'
  | 'integer'
  | 'duration'
  | { readonly enum: readonly string[] }
  | { readonly list: Shape; readonly minItems?: number }
  | { readonly fields: Readonly<Record<string, Shape>>; readonly required?: readonly string[] };

const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/**
 * Every problem of `value` against `shape`, each as `path: problem`.
 *
 * @example
 * checkShape({ a: 1 }, { fields: { a: 'string' } }); // ['a: must be a string, got number 1']
 */
export function checkShape(value: unknown, shape: Shape, at = ''): string[] {
  const where = at || '(top level)';
  if (shape === 'string')
    return typeof value === 'string' && value !== '' ? [] : [`${where}: must be a non-empty string, got ${describe(value)}`];
  if (shape === 'boolean') return typeof value === 'boolean' ? [] : [`${where}: must be true or false, got ${describe(value)}`];
  if (shape === 'integer') return Number.isInteger(value) ? [] : [`${where}: must be a whole number, got ${describe(value)}`];
  if (shape === 'duration') {
    return typeof value === 'string' && DURATION.test(value) ? [] : [`${where}: must be a duration like 30s or 5m, got ${describe(value)}`];
  }
  if ('enum' in shape) {
    return typeof value === 'string' && shape.enum.includes(value)
      ? []
      : [`${where}: must be one of ${shape.enum.join(', ')}, got ${describe(value)}`];
  }
  if ('list' in shape) {
    if (!Array.isArray(value)) return [`${where}: must be a list, got ${describe(value)}`];
    const problems = value.length < (shape.minItems ?? 0) ? [`${where}: needs at least ${shape.minItems} item(s)`] : [];
    return [...problems, ...value.flatMap((item, i) => checkShape(item, shape.list, `${at}[${i}]`))];
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where}: must be a mapping, got ${describe(value)}`];
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, item] of Object.entries(record)) {
    const fieldShape = shape.fields[key];
    const fieldAt = at ? `${at}.${key}` : key;
    if (fieldShape === undefined) problems.push(`${fieldAt}: unknown field (expected one of: ${Object.keys(shape.fields).join(', ')})`);
    else problems.push(...checkShape(item, fieldShape, fieldAt));
  }
  for (const key of shape.required ?? []) if (record[key] === undefined) problems.push(`${at ? `${at}.` : ''}${key}: is required`);
  return problems;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value;
}
