/**
 * Build step: compiles Envoy's official ext_authz protos (shipped in the
 * `deps/` folder of `@grpc/grpc-js-xds`), gRPC health, and Gatehouse's own
 * protos, so that start-up never parses a .proto file.
 *
 * Two artifacts, both from one `buf build`:
 * - `gatehouse.binpb`: the exact FileDescriptorSet, served by reflection;
 * - `gatehouse.json`: the same set in protobufjs' JSON form, which
 *   `@grpc/proto-loader` loads with `fromJSON`. proto-loader's own
 *   descriptor-set loader goes through protobufjs' `Root.fromDescriptor`,
 *   which turns every `map<,>` field into a repeated entry message (Envoy's
 *   `headers` and `context_extensions` among them); the conversion here
 *   restores the maps once, at build time.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { DESCRIPTOR_JSON_PATH, DESCRIPTOR_SET_PATH } from '../gateway/envoy/descriptors.js';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const xdsDeps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const healthProtos = path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto');

/** buf module folder name → where its protos are. */
const modules: Record<string, string> = {
  'envoy-api': path.join(xdsDeps, 'envoy-api'),
  xds: path.join(xdsDeps, 'xds'),
  googleapis: path.join(xdsDeps, 'googleapis'),
  'protoc-gen-validate': path.join(xdsDeps, 'protoc-gen-validate'),
  health: healthProtos,
  gatehouse: path.join(repoRoot, 'proto'),
};

/** The files whose services Gatehouse serves; buf adds everything they import. */
const entryFiles = [
  'envoy-api/envoy/service/auth/v3/external_auth.proto',
  'health/health/v1/health.proto',
  'gatehouse/gatehouse/policy/v1/policy_service.proto',
  'gatehouse/gatehouse/admin/v1/admin_service.proto',
  'gatehouse/gatehouse/tokenexchange/v1/token_exchange_service.proto',
  'gatehouse/gatehouse/kubernetes/v1/review_service.proto',
];

function bufBuild(): Buffer {
  const workspace = mkdtempSync(path.join(tmpdir(), 'gatehouse-protos-'));
  try {
    for (const [name, target] of Object.entries(modules)) symlinkSync(target, path.join(workspace, name));
    const moduleList = Object.keys(modules)
      .map((name) => `  - path: ${name}`)
      .join('\n');
    writeFileSync(path.join(workspace, 'buf.yaml'), `version: v2\nmodules:\n${moduleList}\n`);
    const output = path.join(workspace, 'out.binpb');
    const buf = path.join(repoRoot, 'node_modules', '.bin', 'buf');
    const args = ['build', '--exclude-source-info', '--as-file-descriptor-set', '-o', output];
    for (const file of entryFiles) args.push('--path', file);
    execFileSync(buf, args, { cwd: workspace, stdio: 'inherit' });
    return readFileSync(output);
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

/** Replaces repeated `*Entry` message fields with real map fields, as protoc would read them. */
function restoreMapFields(namespace: protobuf.NamespaceBase): void {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) {
      for (const field of [...nested.fieldsArray]) {
        const entry = field.resolvedType;
        if (!field.repeated || !(entry instanceof protobuf.Type) || entry.options?.map_entry !== true) continue;
        const key = entry.fields.key;
        const value = entry.fields.value;
        if (!key || !value) throw new Error(`map entry ${entry.fullName} lacks key or value`);
        nested.remove(field);
        nested.add(new protobuf.MapField(field.name, field.id, key.type, value.type, undefined, field.comment ?? undefined));
      }
    }
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) restoreMapFields(nested);
  }
}

/** The services Gatehouse serves: everything else in the JSON form is dead weight at start-up. */
const servedServices = [
  'envoy.service.auth.v3.Authorization',
  'grpc.health.v1.Health',
  'gatehouse.policy.v1.PolicyService',
  'gatehouse.admin.v1.AdminService',
  'gatehouse.tokenexchange.v1.TokenExchangeService',
  'gatehouse.kubernetes.v1.KubernetesReviewService',
];

/**
 * Keeps only the types the served services reach (requests, responses and
 * everything their fields refer to), dropping the rest of the imported files
 * and the option extensions (validate, udpa annotations). Start-up then
 * builds definitions for a few dozen messages instead of hundreds.
 */
function pruneToServed(root: protobuf.Root): void {
  const reachable = new Set<protobuf.ReflectionObject>();
  const visit = (type: protobuf.Type | protobuf.Enum | null): void => {
    if (!type || reachable.has(type)) return;
    reachable.add(type);
    if (type instanceof protobuf.Type) for (const field of type.fieldsArray) visit(field.resolve().resolvedType);
  };
  for (const name of servedServices) {
    const service = root.lookupService(name);
    reachable.add(service);
    for (const method of service.methodsArray) {
      visit(method.resolvedRequestType);
      visit(method.resolvedResponseType);
    }
  }
  // Type and Service both extend Namespace, so order matters in these tests.
  const prune = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of [...namespace.nestedArray]) {
      const isPlainNamespace =
        !(nested instanceof protobuf.Type) && !(nested instanceof protobuf.Service) && nested instanceof protobuf.Namespace;
      if (nested instanceof protobuf.Type || isPlainNamespace) prune(nested);
      const keep = isPlainNamespace ? nested.nestedArray.length > 0 : reachable.has(nested);
      if (!keep) namespace.remove(nested);
    }
  };
  prune(root);
}

const setBytes = bufBuild();
// `fromDescriptor` is added to Root by the descriptor extension imported above.
const RootWithDescriptors = protobuf.Root as unknown as { fromDescriptor(set: protobuf.Message): protobuf.Root };
const root = RootWithDescriptors.fromDescriptor(descriptor.FileDescriptorSet.decode(setBytes));
root.resolveAll();
restoreMapFields(root);
root.resolveAll();
pruneToServed(root);

mkdirSync(path.dirname(DESCRIPTOR_SET_PATH), { recursive: true });
writeFileSync(DESCRIPTOR_SET_PATH, setBytes);
writeFileSync(DESCRIPTOR_JSON_PATH, JSON.stringify(root.toJSON()));
console.log(`descriptors: ${setBytes.length} bytes (set), ${entryFiles.length} entry files`);
