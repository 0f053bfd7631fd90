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
