/**
 * The token-exchange service (RFC 8693): what other folders (the CLI, tests)
 * may use.
 */
export { loadTokenExchangeConfig, parseTokenExchangeConfig, TOKEN_EXCHANGE_DEFAULTS } from './config.js';
export type { TokenExchangeConfig, TrustedIssuer } from './config.js';
export { startTokenExchange } from './service.js';
export type { RunningTokenExchange, TokenExchangeDependencies } from './service.js';
export { TokenExchanger } from './exchange.js';
export type { MintedClaims, TokenExchangerOptions } from './exchange.js';
export { loadDelegationRules, delegationError } from './delegation.js';
export type { DelegationRules } from './delegation.js';
export { loadSigningKeys } from './signing-keys.js';
export type { SigningAlgorithm, SigningKey, SigningKeys } from './signing-keys.js';
export { TOKEN_EXCHANGE_SERVICE, OAUTH_ERROR_METADATA } from './grpc-listener.js';
export { JWKS_PATH, DISCOVERY_PATH, HEALTH_PATH } from './https-listener.js';
export { OAuthErrorCode, TokenType, TOKEN_EXCHANGE_GRANT, httpStatusOf } from './types.js';
export type { ExchangeOutcome, ExchangeRequest, ExchangeResponse, OAuthError } from './types.js';
export { runTokenExchange } from './cli.js';
