/**
 * Builds a CheckInput from a short form, with defaults a test rarely needs to
 * change: a GET of `/` on host `todos.default.svc`, port 8080, no peer, no
 * token, workload `default` with no labels.
 *
 * @example
 * checkInput({ principal: 'cluster.local/ns/default/sa/reminder', method: 'POST', path: '/todos', workload: { labels: { app: 'todos' } } })
 */
import type { CheckInput, PeerIdentity, RequestAuth, SpiffeId, WorkloadRef } from '../../gateway/request/model.js';

export interface CheckInputShortForm {
  /** Peer principal, with or without `spiffe://`; a SPIFFE ID is parsed into `peer.spiffe`. */
  principal?: string;
  method?: string;
  /** Already-normalized path (also used as raw path unless `rawPath` is given). */
  path?: string;
  rawPath?: string;
  query?: string;
  host?: string;
  headers?: Record<string, string>;
  sourceIp?: string;
  sourcePort?: number;
  /** Defaults to `sourceIp`. */
  remoteIp?: string;
  destinationIp?: string;
  destinationPort?: number;
  sni?: string;
  /** Merged over `{ namespace: 'default', labels: {} }`; pass `namespace: undefined` for an unresolved workload. */
  workload?: Partial<WorkloadRef>;
  /** A verified token: principal `iss/sub` is derived from the claims when not given. */
  auth?: Partial<RequestAuth> & { claims: Record<string, unknown> };
  contextExtensions?: Record<string, string>;
  decisionId?: string;
}

export function checkInput(short: CheckInputShortForm = {}): CheckInput {
  const path = short.path ?? '/';
  const sourceIp = short.sourceIp ?? '10.0.0.1';
  const workload: WorkloadRef = { namespace: 'default', labels: {}, ...short.workload };
  return {
    decisionId: short.decisionId ?? 'test-decision',
    source: { ip: sourceIp, port: short.sourcePort ?? 40000, labels: {} },
    destination: { ip: short.destinationIp ?? '10.0.0.2', port: short.destinationPort ?? 8080, labels: {} },
    ...(short.principal === undefined ? {} : { peer: peerIdentity(short.principal) }),
    remoteIp: short.remoteIp ?? sourceIp,
    request: {
      method: short.method ?? 'GET',
      host: (short.host ?? 'todos.default.svc').toLowerCase(),
      rawPath: short.rawPath ?? path,
      path,
      query: short.query ?? '',
      scheme: 'http',
      protocol: 'HTTP/1.1',
      headers: new Map(Object.entries(short.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
    },
    workload,
    contextExtensions: short.contextExtensions ?? {},
    ...(short.sni === undefined ? {} : { sni: short.sni }),
    ...(short.auth === undefined ? {} : { auth: requestAuth(short.auth) }),
  };
}

function peerIdentity(principal: string): PeerIdentity {
  const bare = principal.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal;
  const spiffe = spiffeId(bare);
  return { principal: bare, source: 'connection', ...(spiffe === undefined ? {} : { spiffe }) };
}

function spiffeId(bare: string): SpiffeId | undefined {
  const slash = bare.indexOf('/');
  if (slash <= 0) return undefined;
  const trustDomain = bare.slice(0, slash).toLowerCase();
  const path = bare.slice(slash);
  const segments = path.split('/').filter((segment) => segment !== '');
  const istio =
    segments.length === 4 && segments[0] === 'ns' && segments[2] === 'sa'
      ? { namespace: segments[1] as string, serviceAccount: segments[3] as string }
      : {};
  return { uri: `spiffe://${bare}`, trustDomain, path, segments, ...istio };
}

function requestAuth(auth: Partial<RequestAuth> & { claims: Record<string, unknown> }): RequestAuth {
  const { iss, sub, aud, azp } = auth.claims;
  const audiences =
    auth.audiences ?? (Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : typeof aud === 'string' ? [aud] : []);
  const presenter = auth.presenter ?? (typeof azp === 'string' ? azp : undefined);
  return {
    principal: auth.principal ?? `${String(iss)}/${String(sub)}`,
    audiences,
    ...(presenter === undefined ? {} : { presenter }),
    claims: auth.claims,
    ...(auth.delegation === undefined ? {} : { delegation: auth.delegation }),
  };
}
