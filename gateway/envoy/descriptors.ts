/**
 * Loads the gRPC service definitions Gatehouse serves from the descriptors
 * compiled at build time (scripts/build-descriptors.ts): no .proto file is
 * parsed at start-up.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
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
  cachedRoot ??= protobuf.Root.fromJSON(readDescriptorJson());
  return cachedRoot;
}

function readDescriptorJson(): protobuf.INamespace {
  return JSON.parse(readFileSync(DESCRIPTOR_JSON_PATH, 'utf8')) as protobuf.INamespace;
}

/** The package definition for every service Gatehouse serves, loaded once. */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.fromJSON(readDescriptorJson(), LOADER_OPTIONS);
  return cached;
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
