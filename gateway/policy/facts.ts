/**
 * The request attributes policies compare against, read out of a CheckInput
 * once per decision. Absent attributes stay undefined: a positive field
 * never matches them and a `not*` field always accepts them.
 */
import type { CheckInput } from '../request/model.js';
import { celActivation, type CelActivation } from './cel.js';

export class RequestFacts {
  /** `source.principal`: the peer's SPIFFE ID without `spiffe://`. */
  readonly principal: string | undefined;
  readonly sourceNamespace: string | undefined;
  /** `<namespace>/<serviceaccount>` of the peer, when both are known. */
  readonly serviceAccount: string | undefined;
  readonly requestPrincipal: string | undefined;
  /** `request.auth.credential`: `jwt`, `client-credentials` or `api-key`; undefined without request authentication. */
  readonly credential: string | undefined;
  /** `request.auth.actor`: the current actor of a delegated token (RFC 8693 `act.sub`). */
  readonly actor: string | undefined;
  /** `request.auth.delegation.depth` as a decimal string; undefined without delegation. */
  readonly delegationDepth: string | undefined;
  readonly sourceIp: string | undefined;
  readonly remoteIp: string | undefined;
  readonly destinationIp: string | undefined;
  readonly destinationPort: number | undefined;
  /** Lower-cased host, possibly with `:port`. */
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly sni: string | undefined;
  private activation: CelActivation | undefined;

  constructor(readonly input: CheckInput) {
    // A client-credentials token mapped to a service stands in for the peer only when there is none.
    const mapped = input.peer === undefined ? input.auth?.mappedPrincipal : undefined;
    const spiffe = input.peer === undefined ? mapped : input.peer.spiffe;
    this.principal = nonEmpty(input.peer?.principal ?? mapped?.uri.slice('spiffe://'.length));
    this.sourceNamespace = nonEmpty(spiffe?.namespace);
    this.serviceAccount = spiffe?.namespace && spiffe.serviceAccount ? `${spiffe.namespace}/${spiffe.serviceAccount}` : undefined;
    this.requestPrincipal = nonEmpty(input.auth?.principal);
    this.credential = input.auth === undefined ? undefined : (input.auth.credential ?? 'jwt');
    const delegation = input.auth?.delegation;
    this.actor = delegation?.actor;
    this.delegationDepth = delegation === undefined ? undefined : String(delegation.depth);
    this.sourceIp = nonEmpty(input.source.ip);
    this.remoteIp = nonEmpty(input.remoteIp);
    this.destinationIp = nonEmpty(input.destination.ip);
    this.destinationPort = input.destination.port;
    this.host = input.request.host.toLowerCase();
    this.method = input.request.method;
    this.path = input.request.path;
    this.sni = nonEmpty(input.sni);
  }

  /** The CEL variables, built on first use so CEL-free decisions never pay for them. */
  get cel(): CelActivation {
    this.activation ??= celActivation(this.input);
    return this.activation;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

/** `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`; undefined when there is no port. */
export function stripPort(host: string): string | undefined {
  const colon = host.lastIndexOf(':');
  if (colon === -1 || host.lastIndexOf(']') > colon) return undefined;
  if (host.indexOf(':') !== colon && !host.startsWith('[')) return undefined; // bare IPv6, no port
  if (!/^\d+$/.test(host.slice(colon + 1))) return undefined;
  return host.slice(0, colon);
}
