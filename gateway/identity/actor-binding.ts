/**
 * Who may present a delegated token: the current actor must be the peer on
 * the other end of this connection, however valid the token's signature.
 * A token copied to another service is worthless there.
 */
import type { PeerIdentity } from '../request/model.js';

/** How the current actor was tied to the calling peer. */
export type ActorBinding =
  /** The actor is the peer's SPIFFE ID (`spiffe://…`), established by mTLS. */
  | 'spiffe'
  /** The actor is not a SPIFFE ID, and the token is certificate-bound (RFC 8705 `cnf.x5t#S256`) to the peer's certificate. */
  | 'certificate';

export type ActorBindingResult = { readonly ok: true; readonly via: ActorBinding } | { readonly ok: false; readonly reason: string };

/**
 * Checks that `actor` is the caller.
 *
 * - An actor equal to the peer's SPIFFE ID is bound.
 * - An actor that is itself a SPIFFE ID and differs from the peer's is never
 *   bound, whatever else the token says: the token contradicts the connection.
 * - An actor expressed otherwise (a client id) is bound when the token's
 *   `cnf.x5t#S256` is the SHA-256 thumbprint of the peer's certificate: the
 *   issuer tied the actor to that key when it minted the token.
 *
 * @example
 * actorBoundToPeer('spiffe://cluster.local/ns/default/sa/share', input.peer, token.claims); // { ok: true, via: 'spiffe' }
 */
export function actorBoundToPeer(
  actor: string,
  peer: PeerIdentity | undefined,
  claims: Readonly<Record<string, unknown>>,
): ActorBindingResult {
  if (peer === undefined) return { ok: false, reason: `the token names actor ${actor}, and the caller has no workload identity` };
  if (peer.spiffe !== undefined && peer.spiffe.uri === actor) return { ok: true, via: 'spiffe' };
  const caller = peer.spiffe?.uri ?? peer.principal;
  if (!/^spiffe:\/\//i.test(actor) && certificateBound(claims, peer)) return { ok: true, via: 'certificate' };
  return { ok: false, reason: `the token's current actor ${actor} is not the caller ${caller}` };
}

/** RFC 8705 §3.1: `cnf.x5t#S256` is the base64url SHA-256 of the certificate's DER. */
function certificateBound(claims: Readonly<Record<string, unknown>>, peer: PeerIdentity): boolean {
  const cnf = claims['cnf'];
  if (typeof cnf !== 'object' || cnf === null || peer.certificate === undefined) return false;
  const bound = (cnf as Record<string, unknown>)['x5t#S256'];
  return typeof bound === 'string' && bound === Buffer.from(peer.certificate.sha256, 'hex').toString('base64url');
}
