/**
 * The service's OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414):
 * just enough for a verifier to find the keys, and for a client to find the
 * token endpoint. The gateway's discovery reads `issuer` and `jwks_uri`.
 */
import { TOKEN_EXCHANGE_GRANT } from './types.js';
import type { SigningKeys } from './signing-keys.js';

/**
 * @example
 * openIdConfiguration('https://token-exchange.gatehouse.svc:8443', '/token', keys).jwks_uri;
 * // 'https://token-exchange.gatehouse.svc:8443/.well-known/jwks.json'
 */
export function openIdConfiguration(issuer: string, tokenPath: string, keys: SigningKeys): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}${tokenPath}`,
    grant_types_supported: [TOKEN_EXCHANGE_GRANT],
    token_endpoint_auth_methods_supported: ['tls_client_auth'],
    // Required by OIDC Discovery; the service issues access tokens only, signed with these.
    id_token_signing_alg_values_supported: [...new Set([...keys.all.values()].map((key) => key.alg))],
    response_types_supported: [],
    subject_types_supported: ['public'],
  };
}
