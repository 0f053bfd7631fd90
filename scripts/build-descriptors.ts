/**
 * Build step: compiles Envoy's official ext_authz protos (shipped in the
 * `deps/` folder of `@grpc/grpc-js-xds`), gRPC health, and Gatehouse's own
 * protos into one binary FileDescriptorSet. The gateway loads that set at
 * start-up with `@grpc/proto-loader`, so starting never parses a .proto file.
 */
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { DESCRIPTOR_SET_PATH } from '../gateway/envoy/descriptors.js';

const require = createRequire(import.meta.url);
const xdsRoot = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
const healthRoot = path.dirname(require.resolve('grpc-health-check/package.json'));
const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const includeDirs = [
  path.join(repoRoot, 'proto'),
  path.join(xdsRoot, 'deps/envoy-api'),
  path.join(xdsRoot, 'deps/xds'),
  path.join(xdsRoot, 'deps/googleapis'),
  path.join(xdsRoot, 'deps/protoc-gen-validate'),
  path.join(healthRoot, 'proto'),
];

const entryFiles = [
  'envoy/service/auth/v3/external_auth.proto',
  'health/v1/health.proto',
  'gatehouse/policy/v1/policy_service.proto',
];

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => {
  if (path.isAbsolute(target)) return target;
  for (const dir of includeDirs) {
    const candidate = path.join(dir, target);
    try {
      require('node:fs').accessSync(candidate);
      return candidate;
    } catch {
      // try the next include directory
    }
  }
  return target; // protobufjs knows google/protobuf/*.proto itself
};
root.loadSync(entryFiles, { keepCase: true, alternateCommentMode: false });
root.resolveAll();

const set = (root as unknown as { toDescriptor(syntax: string): protobuf.Message }).toDescriptor('proto3');
const bytes = descriptor.FileDescriptorSet.encode(set).finish();
mkdirSync(path.dirname(DESCRIPTOR_SET_PATH), { recursive: true });
writeFileSync(DESCRIPTOR_SET_PATH, bytes);
console.log(`descriptor set: ${bytes.length} bytes, ${entryFiles.length} entry files`);
