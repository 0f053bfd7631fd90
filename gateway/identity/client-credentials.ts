/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4) tokens as service
 * identities: gatehouse.yaml `clientCredentials` maps a token of an issuer
 * whose `client_id`, `azp` or `sub` names a client to a service principal,
 * so a rule written for `cluster.local/ns/default/sa/reminder` can admit the
 * reminder's client-credentials token as well as its certificate.
 *
 * The mapped principal stands in for the peer only when the request has no
 * peer identity (see `RequestAuth.mappedPrincipal` and docs/client-credentials.md):
 * a token can never make an mTLS peer look like another service.
 */
import type { RequestAuth, SpiffeId } from '../request/model.js';

/** The claim that names the client. */
export type ClientIdClaim = 'client_id' | 'azp' | 'sub';

/** One `clientCredentials` entry, validated. */
export interface ClientCredentialMapping {
  /** The token's `iss`, exactly. */
  readonly issuer: string;
  readonly clientId: string;
  readonly claim: ClientIdClaim;
  /**
   * The token's `sub`, exactly. Required unless `claim` is `sub`: user tokens
   * issued through the same client carry the same `client_id` and `azp`, and
   * must not become the service.
   */
  readonly subject?: string;
  /** The service, e.g. `spiffe://cluster.local/ns/default/sa/reminder`. */
  readonly principal: SpiffeId;
}

/**
 * @example
 * const map = new ClientCredentialMap([{ issuer, clientId: 'reminder', claim: 'sub', principal }]);
 * const auth = map.apply(verified.auth); // credential 'client-credentials', mappedPrincipal set when it matches
 */
export class ClientCredentialMap {
  private readonly byIssuer = new Map<string, ClientCredentialMapping[]>();

  constructor(mappings: readonly ClientCredentialMapping[]) {
    for (const mapping of mappings) {
      const list = this.byIssuer.get(mapping.issuer) ?? [];
      list.push(mapping);
      this.byIssuer.set(mapping.issuer, list);
    }
  }

  /**
   * The first mapping that names this token's service, if any. A token with
   * an actor chain (RFC 8693 `act`) is someone acting for the client, never
   * the client itself, and is not mapped.
   */
  match(auth: RequestAuth): ClientCredentialMapping | undefined {
    if (auth.delegation !== undefined || (auth.credential !== undefined && auth.credential !== 'jwt')) return undefined;
    const { iss, sub } = auth.claims;
    if (typeof iss !== 'string') return undefined;
    for (const mapping of this.byIssuer.get(iss) ?? []) {
      if (auth.claims[mapping.claim] !== mapping.clientId) continue;
      if (mapping.subject !== undefined && sub !== mapping.subject) continue;
      return mapping;
    }
    return undefined;
  }

  /** `auth` with the mapped service (`credential: 'client-credentials'`), or `auth` itself when nothing maps it. */
  apply(auth: RequestAuth): RequestAuth {
    const mapping = this.match(auth);
    return mapping === undefined ? auth : { ...auth, credential: 'client-credentials', mappedPrincipal: mapping.principal };
  }
}
