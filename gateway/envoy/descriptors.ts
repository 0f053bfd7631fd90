/**
 * Loads the gRPC service definitions Gatehouse serves from the descriptor set
 * compiled at build time (see scripts/build-descriptors.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

/** Where the build writes the compiled descriptor set. */
export const DESCRIPTOR_SET_PATH = fileURLToPath(new URL('../../gatehouse.binpb', import.meta.url));

/** Options shared by every loader of the descriptor set: field names stay as in the protos. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;

/** The package definition for every service Gatehouse serves, loaded once. */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadFileDescriptorSetFromBuffer(readFileSync(DESCRIPTOR_SET_PATH), LOADER_OPTIONS);
  return cached;
}
