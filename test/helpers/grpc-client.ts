/**
 * gRPC clients built from the same compiled descriptor set the gateway
 * serves, so tests speak to it exactly as Envoy and gRPC tools do.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPackageDefinition } from '../../gateway/envoy/descriptors.js';

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

/** A client for one service with a promise-returning unary call. */
export interface TestClient {
  call<T = Record<string, unknown>>(method: string, request: unknown, deadlineMs?: number): Promise<T>;
  raw: grpc.Client;
  close(): void;
}

/**
 * Connects to `service` (fully-qualified) at `address`.
 *
 * @example
 * const authz = connect('envoy.service.auth.v3.Authorization', `127.0.0.1:${port}`);
 * const response = await authz.call('Check', checkRequest);
 */
export function connect(
  service: string,
  address: string,
  credentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): TestClient {
  const definition = loadPackageDefinition()[service] as grpc.ServiceDefinition;
  const Client = grpc.makeGenericClientConstructor(definition, service);
  const client = new Client(address, credentials, options);
  return {
    raw: client,
    call<T>(method: string, request: unknown, deadlineMs = 5000): Promise<T> {
      const fn = (client as unknown as Record<string, UnaryMethod>)[method];
      if (!fn) throw new Error(`no method ${method} on ${service}`);
      return new Promise<T>((resolve, reject) => {
        fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
          error ? reject(error) : resolve(response as T),
        );
      });
    },
    close: () => client.close(),
  };
}

/** Reads a google.protobuf.Struct (wire-object form) back into plain data. */
export function fromStruct(struct: unknown): Record<string, unknown> {
  const fields = (struct as { fields?: Record<string, unknown> } | undefined)?.fields ?? {};
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) result[key] = fromValue(value);
  return result;
}

function fromValue(value: unknown): unknown {
  const v = value as Record<string, unknown>;
  if ('string_value' in v) return v.string_value;
  if ('number_value' in v) return v.number_value;
  if ('bool_value' in v) return v.bool_value;
  if ('null_value' in v) return null;
  if ('list_value' in v) return ((v.list_value as { values?: unknown[] }).values ?? []).map(fromValue);
  if ('struct_value' in v) return fromStruct(v.struct_value);
  return undefined;
}
