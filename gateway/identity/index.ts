/**
 * Workload identity of the peer: SPIFFE IDs, peer certificates, XFCC, and
 * the precedence between them. Other folders import from here only.
 */
export { parseSpiffeId, spiffePrincipal, maxSpiffeIdBytes, maxTrustDomainBytes } from './spiffe-id.js';
export type { SpiffeIdResult } from './spiffe-id.js';
export { parsePeerCertificate, identityFromX509, defaultMaxCertificateBytes } from './certificate.js';
export type { CertificateParseOptions, CertificateResult } from './certificate.js';
export { parseXfcc, defaultMaxXfccBytes, defaultMaxXfccElements } from './xfcc.js';
export type { XfccElement, XfccParseOptions, XfccResult } from './xfcc.js';
export { resolvePeer, validatePeerConfig, maxPrincipalBytes } from './peer.js';
export type { PeerConfig, PeerEvidence, PeerResult } from './peer.js';
export { TokenErrorCode } from './issuer-rule.js';
export type { IssuerExtensions, IssuerRule, TokenLocation, TokenVerdict, VerifiedToken } from './issuer-rule.js';
export { defaultIssuerExtensions, supportedAlgorithms, validateIssuerExtensions } from './issuer-extensions.js';
export {
  parseRequestAuthentications,
  validateRequestAuthentication,
  compileRequestAuthentications,
  issuerRuleFingerprint,
  RequestAuthenticationSet,
  requestAuthenticationLimits,
} from './request-authentication.js';
export type { JwtRule, LoadedRequestAuthentications, RequestAuthentication } from './request-authentication.js';
export { defaultTokenLocations, defaultMaxTokenBytes, extractToken, tokenLocationKey, describeTokenLocation } from './token-location.js';
export type { ExtractOptions, TokenExtraction } from './token-location.js';
export { JwksManager, JwksRegistry, KeysUnavailableError, checkJwks, jwksSourceOf, jwksSourceKey, defaultJwksOptions } from './jwks.js';
export type { JwksOptions, JwksSource, JwksSourceStats } from './jwks.js';
export { peekIssuer, verifyToken, authenticateRequest, certificateThumbprint, tokenAlgorithm } from './jwt.js';
export type { RequestTokenOutcome, VerifyContext } from './jwt.js';
export { readActorChain, maxActorLength } from './delegation.js';
export type { ActorChainResult } from './delegation.js';
export { actorBoundToPeer } from './actor-binding.js';
export type { ActorBinding, ActorBindingResult } from './actor-binding.js';
export { verifyDelegationChain } from './delegation-verifier.js';
export type { DelegationOutcome, DelegationPolicySource } from './delegation-verifier.js';
