/**
 * Envoy's own configuration schema, for tests of the configuration files we
 * ship: the bootstrap and extension protos from the `deps/` folder of
 * `@grpc/grpc-js-xds`, parsed with protobufjs, and a strict checker of the
 * proto3 JSON mapping (which is how Envoy reads YAML) against them.
 *
 * The protos are parsed rather than compiled with `buf build` as
 * scripts/build-descriptors.ts does: the protoc-gen-validate copy in `deps/`
 * predates some rules the bootstrap's imports use (`ignore_empty`), which buf
 * refuses and protobufjs keeps as plain options.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const xdsDeps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
/** protobufjs ships google/protobuf/descriptor.proto, which the annotation protos import. */
const protobufjsRoot = path.dirname(require.resolve('protobufjs/package.json'));
const includeDirs = [...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => path.join(xdsDeps, dir)), protobufjsRoot];

/**
 * The bootstrap and every extension our configurations name by type URL. An
 * `Any` whose type is not among these is reported, so add the extension's
 * proto here when a configuration starts using it.
 */
export const ENVOY_CONFIG_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
];

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/**
 * Parses Envoy's protos (about a second).
 *
 * @example
 * const checker = new EnvoyConfigChecker(await loadEnvoyProtos());
 * checker.check('envoy.config.bootstrap.v3.Bootstrap', parse(yamlText)); // [] when valid
 */
export async function loadEnvoyProtos(files: readonly string[] = ENVOY_CONFIG_PROTOS): Promise<protobuf.Root> {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    const found = includeDirs.map((dir) => path.join(dir, target)).find((candidate) => existsSync(candidate));
    return found ?? target;
  };
  await root.load([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

type Scalar = 'string' | 'bool' | 'bytes' | 'double' | 'float' | 'int32' | 'uint32' | 'int64' | 'uint64';

const SCALAR_KIND: Record<string, Scalar> = {
  string: 'string',
  bool: 'bool',
  bytes: 'bytes',
  double: 'double',
  float: 'float',
  int32: 'int32',
  sint32: 'int32',
  sfixed32: 'int32',
  uint32: 'uint32',
  fixed32: 'uint32',
  int64: 'int64',
  sint64: 'int64',
  sfixed64: 'int64',
  uint64: 'uint64',
  fixed64: 'uint64',
};

/** The wrapper types, whose JSON form is the wrapped scalar. */
const WRAPPERS: Record<string, Scalar> = {
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
};

/** Well-known types with a JSON form of their own (proto3 JSON mapping). */
const SPECIAL_JSON = new Set([
  '.google.protobuf.Any',
  '.google.protobuf.Duration',
  '.google.protobuf.Timestamp',
  '.google.protobuf.FieldMask',
  '.google.protobuf.Struct',
  '.google.protobuf.Value',
  '.google.protobuf.ListValue',
  ...Object.keys(WRAPPERS),
]);

const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

/**
 * Checks configuration values (proto3 JSON, as parsed from Envoy's YAML)
 * against message types, strictly: unknown and deprecated fields, wrong
 * types, unknown enum values, two members of one oneof, unresolvable `Any`
 * type URLs, and the protoc-gen-validate rules Envoy enforces at load time
 * that say a field is required (`message.required`, `(validate.required)`
 * oneofs, `string.min_len`, `repeated.min_items`) or bound a number.
 */
export class EnvoyConfigChecker {
  constructor(private readonly root: protobuf.Root) {}

  /** Every problem found, each as `path: problem`; empty when the value is a valid `typeName`. */
  check(typeName: string, value: unknown): string[] {
    const problems: string[] = [];
    this.message(this.root.lookupType(typeName), value, '', problems);
    return problems;
  }

  private message(type: protobuf.Type, value: unknown, at: string, problems: string[]): void {
    const where = at || '(top level)';
    if (SPECIAL_JSON.has(type.fullName)) return this.wellKnown(type, value, where, problems);
    if (!isObject(value)) return void problems.push(`${where}: must be a mapping (${type.fullName}), got ${describe(value)}`);
    const fields = fieldsByJsonName(type);
    const setOneofs = new Map<string, string>();
    const present = new Set<string>();
    for (const [key, item] of Object.entries(value)) {
      const field = fields.get(key);
      const fieldAt = at ? `${at}.${key}` : key;
      if (field === undefined) {
        problems.push(`${fieldAt}: unknown field of ${type.fullName}${suggestion(key, fields)}`);
        continue;
      }
      if (present.has(field.name)) problems.push(`${fieldAt}: ${field.name} is given twice (proto and JSON name)`);
      present.add(field.name);
      if (field.options?.deprecated === true) problems.push(`${fieldAt}: deprecated in ${type.fullName}`);
      if (item === null) continue; // JSON null: the field's default
      if (field.partOf) {
        const other = setOneofs.get(field.partOf.name);
        if (other !== undefined) problems.push(`${fieldAt}: oneof ${field.partOf.name} already set by ${other}`);
        setOneofs.set(field.partOf.name, field.name);
      }
      this.field(field, item, fieldAt, problems);
    }
    for (const field of type.fieldsArray) {
      if (present.has(field.name) || field.partOf) continue;
      const rules = validateRules(field);
      const required =
        rules['message.required'] === true ||
        (typeof rules['string.min_len'] === 'number' && rules['string.min_len'] > 0) ||
        (typeof rules['repeated.min_items'] === 'number' && rules['repeated.min_items'] > 0);
      if (required) problems.push(`${at ? `${at}.` : ''}${field.name}: required by ${type.fullName}`);
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] === true && !setOneofs.has(oneof.name)) {
        problems.push(`${where}: one of ${oneof.oneof.join(', ')} is required by ${type.fullName}`);
      }
    }
  }

  private field(field: protobuf.Field, value: unknown, at: string, problems: string[]): void {
    if (field.map) {
      if (!isObject(value)) return void problems.push(`${at}: must be a mapping, got ${describe(value)}`);
      for (const [key, item] of Object.entries(value)) this.single(field, item, `${at}.${key}`, problems);
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return void problems.push(`${at}: must be a list, got ${describe(value)}`);
      const minItems = validateRules(field)['repeated.min_items'];
      if (typeof minItems === 'number' && value.length < minItems) problems.push(`${at}: needs at least ${minItems} item(s)`);
      value.forEach((item, i) => this.single(field, item, `${at}[${i}]`, problems));
      return;
    }
    this.single(field, value, at, problems);
  }

  private single(field: protobuf.Field, value: unknown, at: string, problems: string[]): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, at, problems);
    if (resolved instanceof protobuf.Enum) {
      const known = typeof value === 'string' ? value in resolved.values : Object.values(resolved.values).includes(value as number);
      if (!known)
        problems.push(`${at}: ${describe(value)} is not a value of ${resolved.fullName} (${Object.keys(resolved.values).join(', ')})`);
      return;
    }
    const kind = SCALAR_KIND[field.type];
    if (kind === undefined) return void problems.push(`${at}: unsupported field type ${field.type}`);
    const problem = scalarProblem(kind, value);
    if (problem) return void problems.push(`${at}: ${problem}`);
    const rules = validateRules(field);
    const minLen = rules['string.min_len'];
    if (typeof minLen === 'number' && typeof value === 'string' && value.length < minLen) {
      problems.push(`${at}: must be at least ${minLen} character(s)`);
    }
    const number = typeof value === 'number' ? value : typeof value === 'string' && kind !== 'string' ? Number(value) : undefined;
    if (number !== undefined) {
      for (const [rule, bound] of Object.entries(rules)) {
        const match = /^(?:u?int(?:32|64)|double|float)\.(gt|gte|lt|lte)$/.exec(rule);
        if (!match || typeof bound !== 'number') continue;
        const ok = { gt: number > bound, gte: number >= bound, lt: number < bound, lte: number <= bound }[
          match[1] as 'gt' | 'gte' | 'lt' | 'lte'
        ];
        if (!ok) problems.push(`${at}: must be ${match[1]} ${bound}, got ${number}`);
      }
    }
  }

  private wellKnown(type: protobuf.Type, value: unknown, at: string, problems: string[]): void {
    const wrapped = WRAPPERS[type.fullName];
    if (wrapped !== undefined) {
      const problem = scalarProblem(wrapped, value);
      if (problem) problems.push(`${at}: ${problem}`);
      return;
    }
    switch (type.fullName) {
      case '.google.protobuf.Duration':
        if (typeof value !== 'string' || !DURATION.test(value))
          problems.push(`${at}: a duration is a string of seconds like "0.25s", got ${describe(value)}`);
        return;
      case '.google.protobuf.Timestamp':
        if (typeof value !== 'string' || !TIMESTAMP.test(value))
          problems.push(`${at}: a timestamp is an RFC 3339 string, got ${describe(value)}`);
        return;
      case '.google.protobuf.FieldMask':
        if (typeof value !== 'string') problems.push(`${at}: a field mask is a string, got ${describe(value)}`);
        return;
      case '.google.protobuf.Struct':
        if (!isObject(value)) problems.push(`${at}: must be a mapping, got ${describe(value)}`);
        return;
      case '.google.protobuf.ListValue':
        if (!Array.isArray(value)) problems.push(`${at}: must be a list, got ${describe(value)}`);
        return;
      case '.google.protobuf.Value':
        return;
      case '.google.protobuf.Any':
        return this.any(value, at, problems);
    }
  }

  /** An `Any` is `{"@type": "type.googleapis.com/<message>", ...the message's fields}`. */
  private any(value: unknown, at: string, problems: string[]): void {
    if (!isObject(value)) return void problems.push(`${at}: must be a mapping with "@type", got ${describe(value)}`);
    const { '@type': typeUrl, ...rest } = value;
    if (typeof typeUrl !== 'string' || !typeUrl.startsWith(TYPE_URL_PREFIX)) {
      return void problems.push(`${at}.@type: must be "${TYPE_URL_PREFIX}<message>", got ${describe(typeUrl)}`);
    }
    const name = typeUrl.slice(TYPE_URL_PREFIX.length);
    let type: protobuf.Type;
    try {
      type = this.root.lookupType(name);
    } catch {
      return void problems.push(
        `${at}.@type: ${name} is not a message of the loaded Envoy protos (a typo, or add its file to ENVOY_CONFIG_PROTOS)`,
      );
    }
    const inner = SPECIAL_JSON.has(type.fullName) ? (rest as Record<string, unknown>).value : rest;
    this.message(type, inner, `${at}(${type.name})`, problems);
  }
}

function fieldsByJsonName(type: protobuf.Type): Map<string, protobuf.Field> {
  const fields = new Map<string, protobuf.Field>();
  for (const field of type.fieldsArray) {
    fields.set(field.name, field);
    fields.set(
      field.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
      field,
    );
  }
  return fields;
}

/** protoc-gen-validate rules of a field, e.g. `{'string.min_len': 1}`. */
function validateRules(field: protobuf.Field): Record<string, unknown> {
  const rules: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(field.options ?? {})) {
    if (key.startsWith('(validate.rules).')) rules[key.slice('(validate.rules).'.length)] = value;
  }
  return rules;
}

function scalarProblem(kind: Scalar, value: unknown): string | undefined {
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `must be a string, got ${describe(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${describe(value)}`;
    case 'bytes':
      return typeof value === 'string' && /^[A-Za-z0-9+/_-]*=*$/.test(value) ? undefined : `must be base64, got ${describe(value)}`;
    case 'double':
    case 'float':
      return typeof value === 'number' || value === 'NaN' || value === 'Infinity' || value === '-Infinity'
        ? undefined
        : `must be a number, got ${describe(value)}`;
    case 'int32':
    case 'uint32':
    case 'int64':
    case 'uint64': {
      const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isInteger(number)) return `must be a whole number, got ${describe(value)}`;
      if (kind.startsWith('u') && number < 0) return `must not be negative, got ${number}`;
      if (kind.endsWith('32') && Math.abs(number) > 0xffffffff) return `does not fit 32 bits: ${number}`;
      return undefined;
    }
  }
}

/** " (did you mean x?)" for a near miss: one edit, or the same letters without underscores. */
function suggestion(key: string, fields: Map<string, protobuf.Field>): string {
  const squash = (text: string): string => text.replace(/_/g, '').toLowerCase();
  const near = [...fields.keys()].find((name) => squash(name) === squash(key) || editDistance(name, key) <= 2);
  return near === undefined ? '' : ` (did you mean ${near}?)`;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value}"`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value;
}
