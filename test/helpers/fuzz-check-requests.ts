/**
 * Hostile CheckRequests for a running gateway: random bytes, truncated and
 * bit-flipped encodings of valid requests, and valid protobuf with random
 * field values (huge headers, odd paths, random principals, certificates and
 * tokens, deep and huge maps). Also the policy set they are sent against,
 * whose only allow rule is known, and an oracle independent of the gateway
 * that says which requests that rule could allow. Used by
 * test/properties/fuzz-server.test.ts (a few thousand requests) and
 * bench/fuzz.ts (`npm run fuzz`, 100,000).
 */
import * as grpc from '@grpc/grpc-js';
import type { JSONWebKeySet } from 'jose';
import type protobuf from 'protobufjs';
import { loadPackageDefinition, loadProtobufRoot } from '../../gateway/envoy/descriptors.js';
import { createCa, issueCert, type IssuedCert } from './certs.js';
import { connect } from './grpc-client.js';
import { epochSeconds, generateTestKey, hmacSecret, jwksOf, signToken, unsignedToken } from './tokens.js';

const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
const CHECK_PATH = `/${AUTHORIZATION_SERVICE}/Check`;

/** The one shape the policy set can allow: this peer, this method, a path under this prefix. */
export const fuzzAllowed = {
  spiffeId: 'spiffe://cluster.local/ns/fuzz/sa/allowed',
  /** The policy's principal: a SPIFFE ID without `spiffe://`, also accepted as an opaque principal. */
  principal: 'cluster.local/ns/fuzz/sa/allowed',
  method: 'GET',
  pathPrefix: '/allowed/',
} as const;

const ISSUER = 'https://issuer.fuzz.example';

/** gatehouse.yaml for the fuzz run, without `listen` (the port comes from $PORT). */
export const fuzzConfigYaml = [
  'policies: { paths: [./policies], rootNamespace: istio-system, defaultNamespace: default }',
  'identity: { trustDomains: [cluster.local] }',
  'workloads:',
  '  - { namespace: fuzz, serviceAccount: api, labels: { app: api }, service: api }',
  'log: { level: info }',
  '',
].join('\n');

/**
 * The policy files: a mesh-wide ALLOW (root namespace, so every workload has
 * an ALLOW policy and nothing is allowed for lack of one) for
 * {@link fuzzAllowed}, a narrower DENY inside it, and a RequestAuthentication
 * so that tokens are verified.
 */
export function fuzzPolicyFiles(jwks: JSONWebKeySet): Record<string, string> {
  return {
    'allow.yaml': [
      'apiVersion: security.istio.io/v1',
      'kind: AuthorizationPolicy',
      'metadata: { name: fuzz-allow, namespace: istio-system }',
      'spec:',
      '  action: ALLOW',
      '  rules:',
      `  - from: [{ source: { principals: ["${fuzzAllowed.principal}"] } }]`,
      `    to: [{ operation: { methods: ["${fuzzAllowed.method}"], paths: ["${fuzzAllowed.pathPrefix}*"] } }]`,
      '---',
      'apiVersion: security.istio.io/v1',
      'kind: AuthorizationPolicy',
      'metadata: { name: fuzz-deny, namespace: istio-system }',
      'spec:',
      '  action: DENY',
      '  rules:',
      `  - to: [{ operation: { paths: ["${fuzzAllowed.pathPrefix}secret*"] } }]`,
      '',
    ].join('\n'),
    'request-authentication.yaml': [
      'apiVersion: security.istio.io/v1',
      'kind: RequestAuthentication',
      'metadata: { name: fuzz-issuer, namespace: istio-system }',
      'spec:',
      '  jwtRules:',
      `  - issuer: ${ISSUER}`,
      `    jwks: '${JSON.stringify(jwks)}'`,
      '',
    ].join('\n'),
  };
}

/** Certificates and tokens the generator mutates; built once per run (key generation is slow). */
export interface FuzzMaterial {
  readonly jwks: JSONWebKeySet;
  /** PEMs: one with the allowed SPIFFE ID, the rest with other identities. */
  readonly certificates: readonly string[];
  readonly tokens: readonly string[];
}

/** Builds the certificates and tokens: a test CA's leaves and tokens signed by a key in {@link FuzzMaterial.jwks}. */
export async function createFuzzMaterial(): Promise<FuzzMaterial> {
  const ca = await createCa('fuzz-ca');
  const leaves: IssuedCert[] = await Promise.all([
    issueCert(ca, { uris: [fuzzAllowed.spiffeId] }),
    issueCert(ca, { uris: ['spiffe://cluster.local/ns/fuzz/sa/other'] }),
    issueCert(ca, { uris: ['spiffe://evil.example/ns/fuzz/sa/allowed'] }),
    issueCert(ca, { uris: [fuzzAllowed.spiffeId, 'spiffe://cluster.local/ns/fuzz/sa/other'] }),
    issueCert(ca, { uris: ['https://cluster.local/ns/fuzz/sa/allowed'] }),
    issueCert(ca, { dns: ['allowed.fuzz.svc'], commonName: fuzzAllowed.principal }),
    issueCert(ca, { commonName: 'no sans' }),
  ]);
  const key = await generateTestKey('ES256');
  const now = epochSeconds();
  const claims = { iss: ISSUER, sub: 'alice', aud: 'api', iat: now, exp: now + 3600 };
  const tokens = await Promise.all([
    signToken(claims, key),
    signToken({ ...claims, exp: now - 3600 }, key),
    signToken({ ...claims, iss: 'https://other.example' }, key),
    signToken({ ...claims, sub: fuzzAllowed.principal }, key),
    signToken(claims, key, { crit: ['x-fuzz'], header: { 'x-fuzz': 1 } }),
    signToken(claims, hmacSecret()),
    signToken(claims, await generateTestKey('ES256', key.kid)),
  ]);
  tokens.push(unsignedToken(claims));
  return { jwks: jwksOf(key), certificates: [ca.certPem, ...leaves.map((leaf) => leaf.certPem)], tokens };
}

/** How a request was made. */
export type FuzzKind = 'random-bytes' | 'mutated-encoding' | 'structured' | 'near-valid' | 'deep-struct';

export interface FuzzCase {
  readonly kind: FuzzKind;
  /** The serialized CheckRequest (no gRPC framing): what goes on the wire. */
  readonly bytes: Buffer;
}

/** A deterministic source of randomness (mulberry32), so a failing seed can be replayed. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** In [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
  /** Any UTF-16 units, lone surrogates and controls included. */
  text(maxLength: number): string {
    const length = this.int(maxLength + 1);
    let out = '';
    for (let i = 0; i < length; i++) {
      const roll = this.next();
      out += String.fromCharCode(roll < 0.7 ? 0x20 + this.int(0x5f) : roll < 0.85 ? this.int(0x20) : this.int(0x10000));
    }
    return out;
  }
  /** Text from an alphabet. */
  from(alphabet: string, maxLength: number, minLength = 0): string {
    const length = minLength + this.int(maxLength - minLength + 1);
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)] as string;
    return out;
  }
}

const PRINTABLE = ' !"#$%&()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const DEEP_STRUCT_DEPTHS = [100, 1_000, 5_000, 20_000];
const PATH_PIECES = [
  'allowed',
  'secret',
  'admin',
  '..',
  '.',
  '%2e%2e',
  '%2E',
  '%2f',
  '%5C',
  '%61llowed',
  '',
  'x',
  '%00',
  '%zz',
  '%',
  '\\',
  ';',
  '~',
];

/**
 * Makes requests from a seed: the same seed gives the same sequence.
 *
 * @example
 * const generator = new FuzzGenerator(1, await createFuzzMaterial());
 * const { kind, bytes } = generator.next();
 */
export class FuzzGenerator {
  private readonly random: Random;
  private readonly requestType: protobuf.Type;
  /** Deep structs by depth: the same few depths recur, and building one costs milliseconds. */
  private readonly deepStructs = new Map<number, Buffer>();

  constructor(
    seed: number,
    private readonly material: FuzzMaterial,
  ) {
    this.random = new Random(seed);
    this.requestType = loadProtobufRoot().lookupType('envoy.service.auth.v3.CheckRequest');
  }

  next(): FuzzCase {
    const roll = this.random.next();
    if (roll < 0.08) return { kind: 'random-bytes', bytes: this.random.bytes(this.random.int(this.random.chance(0.9) ? 256 : 8192)) };
    if (roll < 0.09) return { kind: 'deep-struct', bytes: this.deepStruct() };
    if (roll < 0.35) return { kind: 'mutated-encoding', bytes: this.mutate(this.encode(this.structured())) };
    if (roll < 0.6) return { kind: 'structured', bytes: this.encode(this.structured()) };
    return { kind: 'near-valid', bytes: this.encode(this.nearValid()) };
  }

  private encode(request: Record<string, unknown>): Buffer {
    return Buffer.from(this.requestType.encode(this.requestType.fromObject(request)).finish());
  }

  /** Flips bits, overwrites, truncates, inserts, deletes and duplicates bytes of a valid encoding. */
  private mutate(valid: Buffer): Buffer {
    let bytes: Buffer = Buffer.from(valid);
    const operations = 1 + this.random.int(4);
    for (let i = 0; i < operations && bytes.length > 0; i++) {
      const at = this.random.int(bytes.length);
      switch (this.random.int(6)) {
        case 0:
          bytes[at] = (bytes[at] as number) ^ (1 << this.random.int(8));
          break;
        case 1:
          bytes[at] = this.random.int(256);
          break;
        case 2:
          bytes = bytes.subarray(0, at);
          break;
        case 3:
          bytes = Buffer.concat([bytes.subarray(0, at), this.random.bytes(1 + this.random.int(16)), bytes.subarray(at)]);
          break;
        case 4:
          bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + this.random.int(16))]);
          break;
        default:
          bytes = Buffer.concat([bytes, bytes.subarray(at, at + 1 + this.random.int(64))]);
      }
    }
    return bytes;
  }

  /**
   * `attributes.metadata_context.filter_metadata["f"]` holding a
   * google.protobuf.Struct nested thousands deep, written by hand (an
   * encoder would recurse as deep): a decoder must not overflow its stack.
   */
  private deepStruct(): Buffer {
    const depth = this.random.pick(DEEP_STRUCT_DEPTHS);
    let bytes = this.deepStructs.get(depth);
    if (bytes === undefined) this.deepStructs.set(depth, (bytes = this.deepStructOf(depth)));
    return bytes;
  }

  private deepStructOf(depth: number): Buffer {
    // Struct.fields (1) is map<string, Value>: an entry is key (1) "k" and value (2); Value.struct_value is 5.
    // Sizes first, innermost out; then the headers outermost first, so the bytes are written once.
    const levels: { entry: number; value: number; inner: number }[] = [];
    let struct = 0;
    for (let i = 0; i < depth; i++) {
      const value = 1 + varint(struct).length + struct;
      const entry = 3 + 1 + varint(value).length + value;
      levels.push({ entry, value, inner: struct });
      struct = 1 + varint(entry).length + entry;
    }
    const headers = levels
      .reverse()
      .map(({ entry, value, inner }) =>
        Buffer.concat([tag(1), varint(entry), tag(1), varint(1), Buffer.from('k'), tag(2), varint(value), tag(5), varint(inner)]),
      );
    const body = Buffer.concat(headers);
    const entry = Buffer.concat([field(1, Buffer.from('f')), field(2, body)]);
    const attributes = this.requestType.lookupType('envoy.service.auth.v3.AttributeContext');
    const metadataField = attributes.fields['metadata_context'];
    if (!metadataField) throw new Error('AttributeContext has no metadata_context');
    return field(1, field(metadataField.id, field(1, entry)));
  }

  /** A CheckRequest in protobufjs object form, every field drawn from a palette of valid, near-miss and hostile values. */
  private structured(): Record<string, unknown> {
    const r = this.random;
    const headers: Record<string, string> = {};
    const headerCount = r.chance(0.01) ? 300 : r.int(6);
    for (let i = 0; i < headerCount; i++) headers[this.headerName(i)] = this.headerValue();
    if (r.chance(0.5)) headers['authorization'] = `Bearer ${this.token()}`;
    const http: Record<string, unknown> = { headers };
    if (r.chance(0.85)) http['method'] = this.method();
    else headers[':method'] = this.method();
    if (r.chance(0.85)) http['path'] = this.path();
    else headers[':path'] = this.path();
    if (r.chance(0.7)) http['host'] = r.pick(['api.fuzz.svc', 'API.fuzz.svc:8080', '', r.text(40), 'h'.repeat(2000)]);
    if (r.chance(0.2)) http['query'] = r.text(30);
    if (r.chance(0.2)) http['scheme'] = r.pick(['http', 'https', r.text(10)]);
    if (r.chance(0.15)) {
      http['header_map'] = {
        headers: Array.from({ length: 1 + r.int(4) }, () => ({
          key: r.chance(0.3) ? r.pick([':path', ':method', 'authorization']) : this.headerName(0),
          ...(r.chance(0.5) ? { value: this.headerValue() } : { raw_value: r.chance(0.5) ? r.bytes(r.int(40)) : Buffer.from(this.path()) }),
        })),
      };
    }
    if (r.chance(0.005)) headers['x-huge'] = 'v'.repeat(50_000 + r.int(100_000));

    const source: Record<string, unknown> = {};
    if (r.chance(0.85)) source['principal'] = this.principal();
    if (r.chance(0.3)) source['certificate'] = this.certificate();
    if (r.chance(0.5)) source['address'] = this.address();
    if (r.chance(0.1)) source['labels'] = this.map(r.chance(0.05) ? 2000 : 5);
    const destination: Record<string, unknown> = {};
    if (r.chance(0.8))
      destination['principal'] = r.pick(['spiffe://cluster.local/ns/fuzz/sa/api', 'spiffe://cluster.local/ns/x/sa/y', '', r.text(30)]);
    if (r.chance(0.3)) destination['address'] = this.address();
    if (r.chance(0.2)) destination['labels'] = this.map(r.chance(0.05) ? 2000 : 5);
    if (r.chance(0.2)) destination['service'] = r.text(20);

    const attributes: Record<string, unknown> = { source, destination, request: { http } };
    if (r.chance(0.2)) attributes['context_extensions'] = this.map(r.chance(0.2) ? 100 : 4);
    if (r.chance(0.1)) attributes['tls_session'] = { sni: r.text(30) };
    if (r.chance(0.02)) return {};
    if (r.chance(0.02)) return { attributes: { source } };
    return { attributes };
  }

  /**
   * The allowed shape with one part replaced by a near-miss or hostile value.
   * `structured` draws every field at once, so most of its requests stop at
   * the first bad one (decoding, 400); these get past it far more often, so
   * identity, token verification and the policies see the fuzz too.
   */
  private nearValid(): Record<string, unknown> {
    const r = this.random;
    const headers: Record<string, string> = { 'x-request-id': r.from(TOKEN_CHARS, 16, 1) };
    const http: Record<string, unknown> = {
      method: fuzzAllowed.method,
      // some under the DENY policy's prefix, inside the allowed one
      path: `${fuzzAllowed.pathPrefix}${r.chance(0.15) ? 'secret' : ''}${r.from(TOKEN_CHARS, 12)}`,
      host: 'api.fuzz.svc',
      headers,
    };
    const source: Record<string, unknown> = { principal: fuzzAllowed.spiffeId };
    const destination: Record<string, unknown> = { principal: 'spiffe://cluster.local/ns/fuzz/sa/api' };
    // the material's tokens: one valid, the others expired, foreign, forged or unsigned
    if (r.chance(0.3)) headers['authorization'] = `Bearer ${r.pick(this.material.tokens)}`;
    switch (r.int(9)) {
      case 0:
        http['method'] = this.method();
        break;
      case 1:
        http['path'] = this.path();
        break;
      case 2:
        source['principal'] = this.principal();
        break;
      case 3:
        source['certificate'] = this.certificate();
        if (r.chance(0.5)) delete source['principal'];
        break;
      case 4:
        headers['authorization'] = `Bearer ${this.token()}`;
        break;
      case 5:
        headers[this.headerName(1)] = this.headerValue();
        break;
      case 6:
        http['host'] = r.pick(['API.fuzz.svc', 'api.fuzz.svc.', 'аpi.fuzz.svc', r.text(40), '', 'h'.repeat(2000)]);
        break;
      case 7:
        destination['principal'] = r.pick(['spiffe://cluster.local/ns/x/sa/y', 'spiffe://cluster.local/ns/fuzz', '', r.text(30)]);
        break;
      default:
        http['header_map'] = {
          headers: [{ key: r.pick([':path', ':method', 'authorization', 'x-forwarded-client-cert']), value: this.headerValue() }],
        };
    }
    return { attributes: { source, destination, request: { http } } };
  }

  private principal(): string {
    const r = this.random;
    if (r.chance(0.35)) return fuzzAllowed.spiffeId;
    if (r.chance(0.1)) return fuzzAllowed.principal;
    return r.pick([
      'spiffe://cluster.local/ns/fuzz/sa/allowed2',
      'spiffe://cluster.local/ns/fuzz/sa/Allowed',
      'spiffe://cluster.local/ns/fuzz/sa/allowed/',
      'spiffe://cluster.local/ns/fuzz/sa/allow%65d',
      'spiffe://cluster.local/ns/fuzz/sa/allowed\u0000',
      'SPIFFE://cluster.local/ns/fuzz/sa/allowed',
      'spiffe://evil.example/ns/fuzz/sa/allowed',
      'spiffe://cluster.local/ns/fuzz/sa/../sa/allowed',
      'cluster.local/ns/fuzz/sa/allowed ',
      '',
      r.text(60),
      `spiffe://${r.text(40)}`,
      'spiffe://cluster.local/' + 'a'.repeat(3000),
    ]);
  }

  private certificate(): string {
    const r = this.random;
    const pem = r.pick(this.material.certificates);
    switch (r.int(8)) {
      case 0:
        return pem;
      case 1:
      case 2:
        return encodeURIComponent(pem);
      case 3: {
        // A flipped base64 character: the DER changes, mostly into something that does not parse.
        const at = 28 + r.int(pem.length - 60);
        return encodeURIComponent(pem.slice(0, at) + r.pick([...BASE64URL]) + pem.slice(at + 1));
      }
      case 4:
        return encodeURIComponent(pem.slice(0, r.int(pem.length)));
      case 5:
        return encodeURIComponent(pem + r.pick(this.material.certificates));
      case 6:
        return r.pick(['%', '%E0%A4%A', '', r.text(200), encodeURIComponent(encodeURIComponent(pem))]);
      default:
        return r.chance(0.1) ? 'A'.repeat(70_000) : `-----BEGIN CERTIFICATE-----\n${r.from(BASE64URL, 400)}\n-----END CERTIFICATE-----`;
    }
  }

  private token(): string {
    const r = this.random;
    const token = r.pick(this.material.tokens);
    switch (r.int(7)) {
      case 0:
      case 1:
        return token;
      case 2: {
        const at = r.int(token.length);
        return token.slice(0, at) + r.pick([...BASE64URL, '.', '']) + token.slice(at + 1);
      }
      case 3: {
        const [header, payload] = token.split('.');
        return `${header}.${payload}.${r.from(BASE64URL, 100)}`;
      }
      case 4:
        return `${r.from(BASE64URL, 60)}.${r.from(BASE64URL, 200)}.${r.from(BASE64URL, 90)}`;
      case 5:
        return `${token}, Bearer ${r.pick(this.material.tokens)}`;
      default:
        return r.pick([r.text(100), '', '.', '..', 'x'.repeat(20_000)]);
    }
  }

  private method(): string {
    const r = this.random;
    if (r.chance(0.55)) return fuzzAllowed.method;
    return r.pick(['get', 'Get', 'POST', 'HEAD', ' GET', 'GET ', 'GET\u0000', '', r.from(TOKEN_CHARS, 10, 1), r.text(10), 'G'.repeat(40)]);
  }

  private path(): string {
    const r = this.random;
    if (r.chance(0.35)) return `${fuzzAllowed.pathPrefix}${r.from(TOKEN_CHARS, 12)}${r.chance(0.2) ? `?q=${r.text(8)}` : ''}`;
    if (r.chance(0.4)) {
      const segments = Array.from({ length: 1 + r.int(6) }, () => r.pick(PATH_PIECES));
      return `${r.pick(['/', '\\', '//', ''])}${segments.join(r.pick(['/', '/', '\\']))}${r.chance(0.2) ? r.pick(['?x=1', '#f', '?a#b']) : ''}`;
    }
    return r.pick([
      '/allowed',
      '/ALLOWED/x',
      '/allowed/../admin',
      '/x/../allowed/y',
      '/%61llowed/x',
      '/allowed%2Fx',
      '/./allowed/x',
      '/allowed/secret',
      '/allowed/%73ecret',
      '/allowed/x\u00e9',
      'allowed/x',
      r.text(40),
      `/${'a/'.repeat(5000)}`,
    ]);
  }

  private headerName(index: number): string {
    const r = this.random;
    return r.chance(0.7)
      ? r.pick(['x-forwarded-client-cert', 'x-forwarded-for', 'cookie', ':authority', 'host', 'x-request-id', `x-h${index}`, 'X-Upper'])
      : r.chance(0.85)
        ? `x-${r.from(TOKEN_CHARS, 12, 1)}${index}`
        : r.text(12);
  }

  private headerValue(): string {
    const r = this.random;
    if (r.chance(0.5)) return r.from(PRINTABLE, 30);
    return r.pick([
      r.text(30),
      `access_token=${this.token()}`,
      'By=spiffe://cluster.local/ns/x/sa/y;URI=spiffe://cluster.local/ns/fuzz/sa/allowed',
      '203.0.113.1, 10.0.0.1',
      'line\r\nbreak',
      '',
    ]);
  }

  private address(): Record<string, unknown> {
    const r = this.random;
    return {
      socket_address: {
        address: r.pick(['10.0.0.1', '::1', '256.1.1.1', '', r.text(20)]),
        port_value: r.pick([0, 8080, 65535, 70_000, 4_294_967_295]),
      },
    };
  }

  private map(maxKeys: number): Record<string, string> {
    const r = this.random;
    const out: Record<string, string> = {};
    const count = r.int(maxKeys + 1);
    for (let i = 0; i < count; i++) out[`${r.text(8)}${i}`] = r.text(16);
    return out;
  }
}

/** A length-delimited protobuf field. */
function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([tag(number), varint(payload.length), payload]);
}

/** The key of a length-delimited field (wire type 2). */
function tag(number: number): Buffer {
  return varint((number << 3) | 2);
}

function varint(value: number): Buffer {
  const out: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/**
 * RFC 3986 path normalization as Istio's default (BASE) applies it, written
 * from the RFC's text independently of gateway/request/path.ts: percent-encoded
 * unreserved characters decoded, other escapes' hex upper-cased, `\` read as
 * `/`, and §5.2.4's remove_dot_segments run literally on a string buffer.
 * Undefined when the path is refused (not starting with `/` or `\`, a
 * malformed escape, a control character, space, `?`, `#` or non-ASCII).
 */
export function referenceNormalizePath(path: string): string | undefined {
  if (!/^[\\/][\x21-\x7e]*$/.test(path) || /[?#]/.test(path)) return undefined;
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return undefined;
  const decoded = path.replace(/\\/g, '/').replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  let input = decoded;
  let output = '';
  while (input !== '') {
    if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../') || input === '/..') {
      input = input === '/..' ? '/' : input.slice(3);
      output = output.slice(0, Math.max(0, output.lastIndexOf('/')));
    } else {
      const next = input.indexOf('/', 1);
      const segment = next === -1 ? input : input.slice(0, next);
      output += segment;
      input = input.slice(segment.length);
    }
  }
  return output;
}

/** The decoded request as the oracle reads it (proto-loader's plain-object form). */
interface DecodedRequest {
  attributes?: {
    source?: { principal?: string; certificate?: string };
    request?: {
      http?: {
        method?: string;
        path?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: { key?: string; value?: string; raw_value?: Buffer }[] };
      };
    };
  };
}

const checkMethod = (): { requestDeserialize(bytes: Buffer): unknown; responseDeserialize(bytes: Buffer): unknown } => {
  const service = loadPackageDefinition()[AUTHORIZATION_SERVICE] as Record<string, never> | undefined;
  const method = service?.['Check'];
  if (!method) throw new Error(`${AUTHORIZATION_SERVICE}/Check is missing from the descriptor set; run the build`);
  return method;
};

/**
 * The oracle: whether the only ALLOW rule could match these bytes. It reads
 * every place a value could come from (the field, the pseudo-header in both
 * header encodings, any case) and says yes when any of them fits, so it
 * over-approximates what the gateway may allow; an allow it calls
 * impossible is a real bypass. Bytes that are not a CheckRequest can never
 * be allowed.
 */
export function mayBeAllowed(bytes: Buffer): boolean {
  let request: DecodedRequest;
  try {
    request = checkMethod().requestDeserialize(bytes) as DecodedRequest;
  } catch {
    return false;
  }
  const source = request.attributes?.source;
  const http = request.attributes?.request?.http;
  const valuesOf = (field: string | undefined, pseudo: string): string[] => {
    const values = field === undefined ? [] : [field];
    for (const [name, value] of Object.entries(http?.headers ?? {})) if (name.toLowerCase() === pseudo) values.push(value);
    for (const entry of http?.header_map?.headers ?? []) {
      if (entry.key?.toLowerCase() === pseudo) values.push(entry.value ?? '', Buffer.from(entry.raw_value ?? []).toString('utf8'));
    }
    return values;
  };
  const peerFits =
    source?.principal === fuzzAllowed.spiffeId ||
    source?.principal === fuzzAllowed.principal ||
    certificateMentions(source?.certificate ?? '', fuzzAllowed.spiffeId);
  const methodFits = valuesOf(http?.method, ':method').includes(fuzzAllowed.method);
  const pathFits = valuesOf(http?.path, ':path').some((target) =>
    (referenceNormalizePath(target.split(/[?#]/)[0] ?? '') ?? '').startsWith(fuzzAllowed.pathPrefix),
  );
  return peerFits && methodFits && pathFits;
}

/** Whether the DER inside a (URL-encoded) PEM contains `text`, read as leniently as possible. */
function certificateMentions(certificate: string, text: string): boolean {
  let pem = certificate;
  try {
    pem = decodeURIComponent(certificate);
  } catch {
    // kept as sent
  }
  const base64 = pem.replace(/-----[^-]*-----/g, '').replace(/[^A-Za-z0-9+/]/g, '');
  return Buffer.from(base64, 'base64').includes(text);
}

/** Whether the bytes are a CheckRequest at all. */
function decodes(bytes: Buffer): boolean {
  try {
    checkMethod().requestDeserialize(bytes);
    return true;
  } catch {
    return false;
  }
}

/** What one Check came back as. */
export type FuzzAnswer =
  | { readonly kind: 'allow' }
  /** `code`: the decision code from the denial's JSON body (how far the request got), `(no code)` without one. */
  | { readonly kind: 'deny'; readonly httpStatus: string; readonly code: string }
  | { readonly kind: 'error'; readonly status: string }
  | { readonly kind: 'malformed'; readonly problem: string };

interface CheckResponseShape {
  status?: { code?: number };
  ok_response?: unknown;
  denied_response?: { status?: { code?: string }; body?: string };
}

/** Reads a CheckResponse's bytes: an allow, a deny, or why it is not a well-formed answer. */
export function readAnswer(bytes: Buffer): FuzzAnswer {
  let response: CheckResponseShape;
  try {
    response = checkMethod().responseDeserialize(bytes) as CheckResponseShape;
  } catch (error) {
    return { kind: 'malformed', problem: `not a CheckResponse: ${(error as Error).message}` };
  }
  const code = response.status?.code ?? 0;
  if (code === 0) {
    return response.ok_response !== undefined && response.denied_response === undefined
      ? { kind: 'allow' }
      : { kind: 'malformed', problem: 'status OK without exactly an ok_response' };
  }
  const httpStatus = response.denied_response?.status?.code;
  if (response.ok_response !== undefined || httpStatus === undefined) {
    return { kind: 'malformed', problem: `status ${code} without a denied_response and its HTTP status` };
  }
  return { kind: 'deny', httpStatus, code: decisionCode(response.denied_response?.body) };
}

function decisionCode(body: string | undefined): string {
  try {
    const parsed = JSON.parse(body ?? '') as { code?: unknown };
    return typeof parsed.code === 'string' ? parsed.code : '(no code)';
  } catch {
    return '(no code)';
  }
}

/** What a fuzz run saw. */
export interface FuzzTally {
  readonly requests: number;
  readonly seconds: number;
  /** Answers by outcome: `allow`, `deny Forbidden NO_ALLOW_MATCH`, `grpc INTERNAL`, … */
  readonly outcomes: ReadonlyMap<string, number>;
  /** Requests by how they were made. */
  readonly kinds: ReadonlyMap<FuzzKind, number>;
  /** Allows the oracle says no rule could give, malformed answers, and error statuses for requests that decode. */
  readonly violations: readonly string[];
  /** Allows the oracle agreed with (so the oracle was not vacuous). */
  readonly allows: number;
}

export interface FuzzRunOptions {
  readonly requests: number;
  readonly seed: number;
  /** Checks in flight at once. */
  readonly concurrency: number;
  readonly material: FuzzMaterial;
  /** Called every `progressEvery` answers. */
  readonly progress?: (answered: number) => void;
  readonly progressEvery?: number;
}

/** gRPC statuses a request that is not a CheckRequest may get: the server could not decode it. */
const UNDECODABLE_STATUSES = new Set(['INTERNAL', 'INVALID_ARGUMENT']);
const MAX_VIOLATIONS_KEPT = 20;

/**
 * Sends `requests` generated Checks to 127.0.0.1:`port` over one HTTP/2
 * connection and judges every answer.
 *
 * @example
 * const tally = await runFuzz(gatehouse.port, { requests: 3000, seed: 7, concurrency: 16, material });
 * t.deepEqual(tally.violations, []);
 */
export async function runFuzz(port: number, options: FuzzRunOptions): Promise<FuzzTally> {
  const client = connect(AUTHORIZATION_SERVICE, `127.0.0.1:${port}`, undefined, { 'grpc.max_receive_message_length': -1 }).raw;
  const generator = new FuzzGenerator(options.seed, options.material);
  const outcomes = new Map<string, number>();
  const kinds = new Map<FuzzKind, number>();
  const violations: string[] = [];
  let violationCount = 0;
  let allows = 0;
  let sent = 0;
  let answered = 0;
  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  const violation = (text: string, fuzzCase: FuzzCase) => {
    violationCount += 1;
    if (violations.length < MAX_VIOLATIONS_KEPT) {
      violations.push(`${text} (${fuzzCase.kind}, request ${fuzzCase.bytes.subarray(0, 512).toString('base64')})`);
    }
  };
  const call = (bytes: Buffer) =>
    new Promise<{ error?: grpc.ServiceError; response?: Buffer }>((resolve) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        CHECK_PATH,
        (message) => message,
        (message) => message,
        bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + 60_000 },
        (error, response) => resolve(error ? { error } : { response }),
      );
    });

  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (sent < options.requests) {
      sent += 1;
      const fuzzCase = generator.next();
      count(kinds, fuzzCase.kind);
      const { error, response } = await call(fuzzCase.bytes);
      answered += 1;
      if (options.progress && answered % (options.progressEvery ?? 10_000) === 0) options.progress(answered);
      if (error) {
        const status = grpc.status[error.code] ?? String(error.code);
        count(outcomes, `grpc ${status}`);
        if (decodes(fuzzCase.bytes) || !UNDECODABLE_STATUSES.has(status)) violation(`gRPC ${status} (${error.details})`, fuzzCase);
        continue;
      }
      const answer = readAnswer(response ?? Buffer.alloc(0));
      if (answer.kind === 'malformed') {
        count(outcomes, 'malformed');
        violation(`malformed answer: ${answer.problem}`, fuzzCase);
      } else if (answer.kind === 'deny') {
        count(outcomes, `deny ${answer.httpStatus} ${answer.code}`);
      } else {
        count(outcomes, 'allow');
        if (mayBeAllowed(fuzzCase.bytes)) allows += 1;
        else violation('allowed, but no allow rule matches this request', fuzzCase);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    client.close();
  }
  const extra = violationCount - violations.length;
  return {
    requests: answered,
    seconds: (performance.now() - started) / 1000,
    outcomes,
    kinds,
    violations: extra > 0 ? [...violations, `… and ${extra} more`] : violations,
    allows,
  };
}

/** The gateway's overall health status (`SERVING`, `NOT_SERVING`, …), or the error that stood in for it. */
export async function healthStatus(port: number): Promise<string> {
  const health = connect('grpc.health.v1.Health', `127.0.0.1:${port}`);
  try {
    const answer = await health.call<{ status?: string }>('Check', { service: '' }, 10_000);
    return answer.status ?? 'UNKNOWN';
  } catch (error) {
    return `error: ${(error as Error).message}`;
  } finally {
    health.close();
  }
}

/** Lines on stderr that mean something escaped: uncaught exceptions, unhandled rejections, stack traces. */
export function crashLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /uncaught|unhandled|^\s+at |Error:|FATAL|out of memory/i.test(line));
}
