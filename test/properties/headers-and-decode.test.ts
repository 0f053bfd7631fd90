/**
 * Properties of the edge (gateway/request/headers.ts, gateway/envoy/decode.ts)
 * on random CheckRequests: header collection accepts exactly what a simple
 * model of its rules accepts and keeps every value; decoding never throws,
 * and either yields a request whose path is the normalized path of what was
 * sent, or a failure with a known code and a printable reason.
 */
import test from 'ava';
import fc from 'fast-check';
import { parseConfig } from '../../gateway/config/load.js';
import type { RawCheckRequest } from '../../gateway/envoy/check-request.js';
import { createDecodeContext, decodeCheckRequest } from '../../gateway/envoy/decode.js';
import { DecisionCode } from '../../gateway/errors.js';
import { collectHeaders } from '../../gateway/request/headers.js';
import { normalizePath, splitPathAndQuery } from '../../gateway/request/path.js';
import { numRuns } from './runs.js';

const TOKEN = /^:?[a-z0-9!#$%&'*+.^_`|~-]+$/;
const limits = { maxHeaderCount: 8, maxHeaderBytes: 200 };

const headerName = fc.oneof(
  fc.constantFrom('authorization', 'Authorization', ':path', 'X-Forwarded-For', 'cookie', '', 'a b', 'ä', 'x\u0000'),
  fc.string({ unit: fc.constantFrom(...'abcXYZ-_:.'.split('')), minLength: 1, maxLength: 8 }),
  fc.string({ maxLength: 8 }),
);
const headerValue = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('a\r\nb', 'nul\u0000', '\uFFFD', 'v,w'));

/** What collectHeaders accepts, from its documented rules: token names (after lower-casing), clean values, within limits. */
function accepted(entries: readonly (readonly [string, string])[]): boolean {
  let bytes = 0;
  for (const [name, value] of entries) {
    if (!TOKEN.test(name.toLowerCase()) || /[\0\r\n\uFFFD]/.test(value)) return false;
    bytes += name.length + value.length;
  }
  return entries.length <= limits.maxHeaderCount && bytes <= limits.maxHeaderBytes;
}

test('collectHeaders accepts exactly what its rules allow, and every accepted value is kept under its lower-cased name', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(headerName, headerValue), { maxLength: 10 }), fc.boolean(), (entries, asList) => {
      const map: Record<string, string> = {};
      for (const [name, value] of entries) map[name] = value;
      const sent = asList ? entries : Object.entries(map);
      const result = asList
        ? collectHeaders(
            undefined,
            entries.map(([key, value]) => ({ key, value })),
            limits,
          )
        : collectHeaders(map, undefined, limits);
      if (result.ok !== accepted(sent)) return false;
      if (!result.ok) return result.reason.length > 0 && !/[\0\r\n]/.test(result.reason);
      return sent.every(([name, value]) => (result.headers.get(name.toLowerCase()) ?? '').split(',').includes(value.split(',')[0] ?? ''));
    }),
    { numRuns: numRuns(5000) },
  );
  t.pass();
});

const config = parseConfig(
  'identity: { trustDomains: [cluster.local] }\nworkloads:\n  - { namespace: default, serviceAccount: todos, labels: { app: todos }, service: todos }\n',
  'test.yaml',
);
const context = createDecodeContext(config);
const principal = fc.oneof(
  fc.constantFrom('spiffe://cluster.local/ns/default/sa/reminder', 'spiffe://evil/ns/a/sa/b', 'SPIFFE://x', 'cluster.local/ns/a/sa/b', ''),
  fc.string(),
);
const target = fc.oneof(fc.webPath(), fc.string(), fc.constantFrom('/a/../b?x=1', '/%2e%2e/admin', '\\a\\b', '/a#f', '/caf\u00e9'));
const rawRequest: fc.Arbitrary<RawCheckRequest> = fc.record(
  {
    attributes: fc.record(
      {
        source: fc.record(
          {
            principal,
            certificate: fc.oneof(fc.string(), fc.constant('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')),
            address: fc.record({
              socket_address: fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), port_value: fc.integer() }),
            }),
          },
          { requiredKeys: [] },
        ),
        destination: fc.record({ principal, labels: fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }) }, { requiredKeys: [] }),
        request: fc.record({
          http: fc.record(
            {
              method: fc.oneof(fc.constantFrom('GET', 'get', 'P OST', ''), fc.string()),
              path: target,
              host: fc.string(),
              query: fc.string(),
              headers: fc.dictionary(headerName, headerValue, { maxKeys: 6 }),
              header_map: fc.record({
                headers: fc.array(fc.record({ key: headerName, raw_value: fc.uint8Array({ maxLength: 12 }) }), { maxLength: 3 }),
              }),
            },
            { requiredKeys: [] },
          ),
        }),
        context_extensions: fc.dictionary(fc.string(), fc.string(), { maxKeys: 70 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const decisionCodes = new Set<string>(Object.values(DecisionCode));

test('decodeCheckRequest never throws: a request with the normalized path of its target, or a known code and a printable reason', (t) => {
  fc.assert(
    fc.property(rawRequest, (raw) => {
      const result = decodeCheckRequest(raw, context);
      if (!result.ok) return decisionCodes.has(result.code) && result.reason.length > 0 && !/[\0\r\n]/.test(result.reason);
      const http = raw.attributes?.request?.http;
      const sent = http?.path || result.input.request.headers.get(':path') || '';
      const normalized = normalizePath(splitPathAndQuery(sent).path);
      return (
        normalized.ok && result.input.request.path === normalized.path && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(result.input.request.method)
      );
    }),
    { numRuns: numRuns(3000) },
  );
  t.pass();
});
