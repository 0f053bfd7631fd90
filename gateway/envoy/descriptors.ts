/**
 * Loads the gRPC service definitions Gatehouse serves from the descriptors
 * compiled at build time (scripts/build-descriptors.ts): no .proto file is
 * parsed at start-up, and one protobufjs root serves both the hot path's own
 * codec and the service definitions grpc-js needs. The definitions are built
 * here rather than by proto-loader, whose `fromJSON` builds a second root and
 * converts every type back into descriptors that only reflection would read
 * (reflection reads the exact descriptor set instead): a measured part of
 * cold start.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/** The exact FileDescriptorSet from `buf build`, served by reflection. */
export const DESCRIPTOR_SET_PATH = fileURLToPath(new URL('../../gatehouse.binpb', import.meta.url));
/** The same set in protobufjs JSON form, which proto-loader loads. */
export const DESCRIPTOR_JSON_PATH = fileURLToPath(new URL('../../gatehouse.json', import.meta.url));

/** Options shared by every loader of the descriptors: field names stay as in the protos. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;
let cachedRoot: protobuf.Root | undefined;

/** The protobufjs root of the same descriptors, for the hot path's own codec. */
export function loadProtobufRoot(): protobuf.Root {
  // Types resolve on first use, so a start-up pays only for the types its services reach.
  cachedRoot ??= protobuf.Root.fromJSON(readDescriptorJson());
  return cachedRoot;
}

function readDescriptorJson(): protobuf.INamespace {
  return JSON.parse(readFileSync(DESCRIPTOR_JSON_PATH, 'utf8')) as protobuf.INamespace;
}

/**
 * The service definitions of every service Gatehouse serves, keyed by full
 * service name, in proto-loader's shape: messages are plain objects converted
 * with LOADER_OPTIONS, exactly as proto-loader would.
 */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= serviceDefinitions(loadProtobufRoot());
  return cached;
}

function serviceDefinitions(root: protobuf.Root): protoLoader.PackageDefinition {
  const definitions: Record<string, protoLoader.ServiceDefinition> = {};
  const visit = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Service) definitions[nested.fullName.slice(1)] = serviceDefinition(nested);
      else if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  return definitions;
}

function serviceDefinition(service: protobuf.Service): protoLoader.ServiceDefinition {
  const definition: Record<string, protoLoader.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = method.resolvedRequestType as protobuf.Type;
    const response = method.resolvedResponseType as protobuf.Type;
    definition[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
      // Message type entries are for proto-loader's own consumers (reflection); nothing here reads them.
      requestType: { format: 'Protocol Buffer 3 DescriptorProto', type: {}, fileDescriptorProtos: [] },
      responseType: { format: 'Protocol Buffer 3 DescriptorProto', type: {}, fileDescriptorProtos: [] },
    } as unknown as protoLoader.MethodDefinition<object, object>;
  }
  return definition;
}

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => Buffer.from(type.encode(type.fromObject(value)).finish());
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), LOADER_OPTIONS);
}

/**
 * The exact files of the descriptor set, in the one-entry package-definition
 * shape that `@grpc/reflection` reads (it indexes every entry's
 * `fileDescriptorProtos`, so one entry holding them all is the cheap form).
 */
export function reflectionDefinition(): protoLoader.PackageDefinition {
  const files = splitDescriptorSet(readFileSync(DESCRIPTOR_SET_PATH));
  return {
    'gatehouse.descriptors': { format: 'Protocol Buffer 3 FileDescriptorSet', type: {}, fileDescriptorProtos: files },
  } as unknown as protoLoader.PackageDefinition;
}

/**
 * Splits a serialized FileDescriptorSet (`repeated FileDescriptorProto file = 1`)
 * into the serialized files, without decoding them.
 */
export function splitDescriptorSet(set: Buffer): Buffer[] {
  const files: Buffer[] = [];
  let offset = 0;
  while (offset < set.length) {
    if (set[offset] !== 0x0a) throw new Error(`descriptor set: unexpected tag ${set[offset]} at ${offset}`);
    offset += 1;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = set[offset++];
      if (byte === undefined || shift > 28) throw new Error('descriptor set: truncated length');
      length |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
    }
    files.push(set.subarray(offset, offset + length));
    offset += length;
  }
  return files;
}
