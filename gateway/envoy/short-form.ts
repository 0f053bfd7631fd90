/**
 * The short form of a CheckRequest that people write by hand (in
 * `gatehouse check`, policy test cases and the Explain RPC), and its expansion
 * into the CheckRequest shape Envoy sends. A document with `attributes` is
 * taken as a full CheckRequest.
 */
import type { RawCheckRequest } from './check-request.js';

/** What a person usually needs to say about a request. */
export interface ShortCheckRequest {
  source_principal?: string;
  source_address?: string;
  destination_principal?: string;
  destination_port?: number;
  method?: string;
  host?: string;
  path?: string;
  headers?: Record<string, string>;
  context_extensions?: Record<string, string>;
}

const SHORT_FIELDS = new Set([
  'source_principal',
  'source_address',
  'destination_principal',
  'destination_port',
  'method',
  'host',
  'path',
  'headers',
  'context_extensions',
]);

/**
 * Expands a short form, or passes a full CheckRequest through. Throws an Error
 * naming the field when the document is neither.
 *
 * @example
 * toCheckRequest({ source_principal: 'spiffe://cluster.local/ns/default/sa/reminder', method: 'GET', path: '/todos' })
 */
export function toCheckRequest(document: unknown): RawCheckRequest {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new Error('a request must be a mapping: a CheckRequest with `attributes`, or the short form');
  }
  const record = document as Record<string, unknown>;
  if ('attributes' in record) return record;
  for (const key of Object.keys(record)) {
    if (!SHORT_FIELDS.has(key)) throw new Error(`unknown field '${key}' (short form fields: ${[...SHORT_FIELDS].join(', ')})`);
  }
  const short = record as ShortCheckRequest;
  const text = (field: keyof ShortCheckRequest): string | undefined => {
    const value = short[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new Error(`field '${field}' must be a string`);
    return value;
  };
  const map = (field: 'headers' | 'context_extensions'): Record<string, string> | undefined => {
    const value = short[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`field '${field}' must be a mapping`);
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== 'string') throw new Error(`field '${field}.${key}' must be a string`);
    }
    return value;
  };
  const port = short.destination_port;
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new Error("field 'destination_port' must be a port number");
  }
  return {
    attributes: {
      source: {
        principal: text('source_principal'),
        address: { socket_address: { address: text('source_address') ?? '10.0.0.1', port_value: 40000 } },
      },
      destination: {
        principal: text('destination_principal'),
        address: { socket_address: { address: '10.0.0.2', port_value: port ?? 8080 } },
      },
      request: {
        http: {
          method: text('method') ?? 'GET',
          host: text('host') ?? 'localhost',
          path: text('path') ?? '/',
          headers: map('headers') ?? {},
          protocol: 'HTTP/1.1',
        },
      },
      context_extensions: map('context_extensions') ?? {},
    },
  };
}
