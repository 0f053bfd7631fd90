/**
 * Loads the gRPC service definitions Gatehouse serves from the descriptors
 * compiled at build time (scripts/build-descriptors.ts): no .proto file is
 * parsed at start-up.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

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

/**
 * The package definition for every service Gatehouse serves, loaded once.
 * Its `fileDescriptorProtos` are the exact files of the descriptor set, so
 * reflection clients see the protos as written.
 */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const json = JSON.parse(readFileSync(DESCRIPTOR_JSON_PATH, 'utf8')) as Parameters<typeof protoLoader.fromJSON>[0];
  const definition = protoLoader.fromJSON(json, LOADER_OPTIONS);
  const files = splitDescriptorSet(readFileSync(DESCRIPTOR_SET_PATH));
  for (const entry of Object.values(definition)) {
    // Messages and enums carry the files; reflection reads them from there.
    if ('fileDescriptorProtos' in entry) (entry as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos = files;
  }
  cached = definition;
  return definition;
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
