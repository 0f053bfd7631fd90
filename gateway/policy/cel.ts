/**
 * Gatehouse's extension to Istio: a `when` condition with key `gatehouse.cel`
 * holds CEL expressions (https://github.com/google/cel-spec). Expressions are
 * parsed and type-checked once at load time; at decision time they only run.
 */
import { celEnvironment, compileCelBool, type CelBoolProgram } from '../cel-program.js';
import type { CheckInput } from '../request/model.js';

/** The `when` key that introduces CEL expressions. */
export const celConditionKey = 'gatehouse.cel';

// One environment for all policies: building it is the expensive part.
const environment = celEnvironment()
  .registerVariable('request', 'map')
  .registerVariable('source', 'map')
  .registerVariable('destination', 'map')
  .registerVariable('connection', 'map')
  .registerVariable('auth', 'map')
  .registerVariable('context', 'map');

/** The variables a CEL expression sees. Built at most once per decision. */
export type CelActivation = Readonly<Record<string, ReadonlyMap<string, unknown>>>;

/** A parsed, type-checked CEL expression. */
export type CelProgram = CelBoolProgram<CelActivation>;

/**
 * Parses and type-checks one expression. Returns the problem as a sentence
 * when it does not parse, does not type-check, or cannot yield a bool.
 */
export function compileCel(expression: string): { ok: true; program: CelProgram } | { ok: false; problem: string } {
  return compileCelBool<CelActivation>(environment, expression);
}

/**
 * The CEL variables for a request. Maps, so `has(auth.claims)` and
 * `request.headers['x-id']` behave as CEL users expect; `auth` is an empty
 * map when the request carried no token or API key, and has `actor`, `actors` and
 * `depth` only when the token carried an actor chain.
 */
export function celActivation(input: CheckInput): CelActivation {
  const peer = input.peer;
  // A client-credentials token mapped to a service stands in for the peer only when there is none (as in facts.ts).
  const source = peer?.spiffe ?? (peer === undefined ? input.auth?.mappedPrincipal : undefined);
  const destinationPeer = input.destinationPeer;
  return {
    request: definedEntries({
      method: input.request.method,
      host: input.request.host,
      path: input.request.path,
      rawPath: input.request.rawPath,
      query: input.request.query,
      headers: new Map(input.request.headers),
      scheme: input.request.scheme,
      protocol: input.request.protocol,
    }),
    source: definedEntries({
      ip: input.source.ip,
      port: input.source.port === undefined ? undefined : BigInt(input.source.port),
      principal: peer?.principal ?? source?.uri.slice('spiffe://'.length),
      namespace: source?.namespace,
      serviceAccount: source?.serviceAccount,
      trustDomain: source?.trustDomain,
    }),
    destination: definedEntries({
      ip: input.destination.ip,
      port: input.destination.port === undefined ? undefined : BigInt(input.destination.port),
      principal: destinationPeer?.principal,
      namespace: destinationPeer?.spiffe?.namespace,
      serviceAccount: destinationPeer?.spiffe?.serviceAccount,
    }),
    connection: definedEntries({ sni: input.sni }),
    auth:
      input.auth === undefined
        ? new Map()
        : definedEntries({
            principal: input.auth.principal,
            audiences: [...input.auth.audiences],
            presenter: input.auth.presenter,
            claims: input.auth.claims,
            credential: input.auth.credential ?? 'jwt',
            // RFC 8693 delegation: absent keys for a token without `act`.
            actor: input.auth.delegation?.actor,
            actors: input.auth.delegation === undefined ? undefined : [...input.auth.delegation.actors],
            depth: input.auth.delegation === undefined ? undefined : BigInt(input.auth.delegation.depth),
          }),
    context: new Map(Object.entries(input.contextExtensions)),
  };
}

/** Absent attributes are absent keys, so `has(source.principal)` is false without mTLS. */
function definedEntries(record: Record<string, unknown>): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (const [key, value] of Object.entries(record)) if (value !== undefined) map.set(key, value);
  return map;
}
