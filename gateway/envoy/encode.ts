/**
 * The other edge: turns a ResponsePlan into an Envoy CheckResponse in the
 * object form @grpc/proto-loader serializes (keepCase, enums by name).
 */
import type { HeaderToSet, ResponsePlan } from '../response/plan.js';

/** envoy.type.v3.StatusCode names for the HTTP statuses Gatehouse returns. */
const HTTP_STATUS_NAMES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

interface StructValue {
  null_value?: 'NULL_VALUE';
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: { fields: Record<string, StructValue> };
  list_value?: { values: StructValue[] };
}

/**
 * Encodes the plan.
 *
 * @example
 * callback(null, encodeCheckResponse(planResponse(decision, id, input, config)));
 */
export function encodeCheckResponse(plan: ResponsePlan): Record<string, unknown> {
  const response: Record<string, unknown> = {
    status: { code: plan.grpcCode, message: plan.allowed || typeof plan.metadata.code !== 'string' ? '' : plan.metadata.code },
    dynamic_metadata: toStruct(plan.metadata),
  };
  if (plan.allowed) {
    response.ok_response = {
      // Envoy up to 1.36 ignores append_action in ok_response.headers, so `append` is always explicit.
      headers: plan.upstreamHeaders.map(legacyHeaderOption),
      headers_to_remove: [...plan.upstreamHeadersToRemove],
      response_headers_to_add: plan.clientHeaders.map(headerOption),
    };
  } else {
    response.denied_response = {
      status: { code: HTTP_STATUS_NAMES[plan.httpStatus] ?? 'Forbidden' },
      headers: plan.clientHeaders.map(legacyHeaderOption),
      body: plan.body ?? '',
    };
  }
  return response;
}

function legacyHeaderOption(header: HeaderToSet): Record<string, unknown> {
  return { header: { key: header.name, value: header.value }, append: { value: header.append } };
}

function headerOption(header: HeaderToSet): Record<string, unknown> {
  return {
    header: { key: header.name, value: header.value },
    append_action: header.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD',
  };
}

/** Converts plain JSON-like data to google.protobuf.Struct's wire-object form. */
export function toStruct(value: Readonly<Record<string, unknown>>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) fields[key] = toValue(item);
  }
  return { fields };
}

function toValue(item: unknown): StructValue {
  if (item === null) return { null_value: 'NULL_VALUE' };
  if (typeof item === 'number') return { number_value: item };
  if (typeof item === 'boolean') return { bool_value: item };
  if (typeof item === 'string') return { string_value: item };
  if (Array.isArray(item)) return { list_value: { values: item.map(toValue) } };
  if (typeof item === 'object') return { struct_value: toStruct(item as Record<string, unknown>) };
  if (typeof item === 'bigint') return { string_value: item.toString() };
  return { null_value: 'NULL_VALUE' };
}
