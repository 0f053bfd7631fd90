/**
 * The one CheckRequest every benchmark sends: the todo demo's reminder service
 * reading a todo, with the attributes and headers an Istio sidecar's
 * ext_authz filter sends for it. Encoded from the same descriptor set the
 * gateway serves, so the bytes are what Envoy would put on the wire.
 */
import type * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition } from '../gateway/envoy/descriptors.js';

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const CHECK_PATH = `/${AUTHORIZATION_SERVICE}/Check`;

export const SOURCE_PRINCIPAL = 'spiffe://cluster.local/ns/default/sa/reminder';
export const DESTINATION_PRINCIPAL = 'spiffe://cluster.local/ns/default/sa/todos';
/** The demo policy that allows the reminder service to GET todos. */
export const EXPECTED_DEMO_POLICY = 'default/todos-viewer-allow';

const PATH = '/todos/123?x=1';
const HOST = 'todos.default.svc.cluster.local:8080';

/** The request as an object in proto-loader's form (keepCase field names). */
export function fixedCheckRequest(): Record<string, unknown> {
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '10.244.1.17', port_value: 51234 } },
        principal: SOURCE_PRINCIPAL,
      },
      destination: {
        address: { socket_address: { address: '10.244.2.9', port_value: 8080 } },
        principal: DESTINATION_PRINCIPAL,
      },
      request: {
        time: { seconds: 1767225600, nanos: 125000000 },
        http: {
          id: '14960853421796385922',
          method: 'GET',
          headers: {
            ':authority': HOST,
            ':method': 'GET',
            ':path': PATH,
            ':scheme': 'http',
            accept: 'application/json',
            'accept-encoding': 'gzip, deflate',
            'user-agent': 'reminder/2.4.1 node-fetch/3.3.2',
            'x-request-id': '6f1c2a9e-3b7d-4f0e-9a51-8c2d7e4b1a03',
            'x-forwarded-proto': 'http',
            'x-envoy-attempt-count': '1',
            'x-envoy-expected-rq-timeout-ms': '15000',
            'x-envoy-decorator-operation': 'todos.default.svc.cluster.local:8080/*',
            'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
            'x-b3-spanid': 'e457b5a2e4d86bd1',
            'x-b3-sampled': '0',
          },
          path: PATH,
          host: HOST,
          scheme: 'http',
          protocol: 'HTTP/1.1',
          size: -1,
        },
      },
    },
  };
}

function checkMethod(): protoLoader.MethodDefinition<object, object> {
  const service = loadPackageDefinition()[AUTHORIZATION_SERVICE] as protoLoader.ServiceDefinition | undefined;
  const method = service?.Check;
  if (!method) throw new Error(`${AUTHORIZATION_SERVICE}/Check is missing from the descriptor set; run the build`);
  return method;
}

/** The request serialized as protobuf (no gRPC framing). */
export function encodeFixedCheckRequest(): Buffer {
  return checkMethod().requestSerialize(fixedCheckRequest());
}

/** The request as the server receives it: serialized, then decoded by proto-loader. */
export function decodedFixedCheckRequest(): Record<string, unknown> {
  const method = checkMethod();
  return method.requestDeserialize(method.requestSerialize(fixedCheckRequest())) as Record<string, unknown>;
}

/** Decodes a CheckResponse as a client sees it. */
export function decodeCheckResponse(bytes: Buffer): CheckResponseView {
  return checkMethod().responseDeserialize(bytes);
}

/**
 * One gRPC length-prefixed message: a 0 compression flag, the length as
 * uint32 big-endian, then the message (what h2load posts as the body).
 */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** The fields of a CheckResponse the benchmarks look at. */
export interface CheckResponseView {
  status?: { code?: number };
  ok_response?: unknown;
  denied_response?: unknown;
  dynamic_metadata?: { fields?: Record<string, { string_value?: string }> };
}
