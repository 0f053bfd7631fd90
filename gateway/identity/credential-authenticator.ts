/**
 * The request authentication stage when more than bearer tokens are
 * configured: an API key, when the request presents one, is verified
 * instead of the token stage; otherwise the token stage runs and its
 * result may be mapped to a service (client credentials). A request with
 * both an API key and a bearer token is refused as ambiguous, as two tokens
 * are: one request, one request principal.
 */
import type { AuthenticationResult, Authenticator } from '../authorizer.js';
import type { CheckInput } from '../request/model.js';
import { ApiKeyErrorCode } from './api-key.js';
import type { ApiKeyAuthenticator } from './api-key-authenticator.js';
import type { ClientCredentialMap } from './client-credentials.js';
import type { RequestAuthenticationSource } from './token-authenticator.js';
import { extractToken } from './token-location.js';

export interface CredentialAuthenticatorOptions {
  /** The JWT stage (`TokenAuthenticator`). */
  readonly tokens: Authenticator;
  readonly apiKeys?: ApiKeyAuthenticator;
  readonly clientCredentials?: ClientCredentialMap;
  /** Whether the request also carries a bearer token (other than `apiKey`) that the token stage would read. */
  readonly tokenPresent?: (input: CheckInput, apiKey: string) => boolean;
}

/**
 * @example
 * const authenticator = new CredentialAuthenticator({ tokens, apiKeys, clientCredentials, tokenPresent: tokenPresence(policies, 16_384) });
 */
export class CredentialAuthenticator implements Authenticator {
  constructor(private readonly options: CredentialAuthenticatorOptions) {}

  async authenticate(input: CheckInput): Promise<AuthenticationResult> {
    const { apiKeys, tokens, clientCredentials, tokenPresent } = this.options;
    if (apiKeys !== undefined) {
      const found = apiKeys.find(input);
      if (found.found) {
        if (tokenPresent?.(input, found.key)) {
          return { kind: 'rejected', code: ApiKeyErrorCode.Ambiguous, reason: 'the request carries both an API key and a bearer token' };
        }
        return apiKeys.verify(found);
      }
      if (found.error !== undefined) return { kind: 'rejected', code: found.error, reason: found.reason };
    }
    const result = await tokens.authenticate(input);
    if (result.kind !== 'authenticated' || clientCredentials === undefined) return result;
    return { ...result, auth: clientCredentials.apply(result.auth) };
  }
}

/**
 * Whether a request carries a token where the workload's RequestAuthentication
 * rules look (a token that is there but unreadable counts too).
 *
 * @example
 * const tokenPresent = tokenPresence(policies, config.jwt.maxTokenBytes);
 */
export function tokenPresence(rules: RequestAuthenticationSource, maxTokenBytes: number): (input: CheckInput, apiKey: string) => boolean {
  return (input, apiKey) => {
    const applicable = rules.currentAuthentication().rulesFor(input.workload);
    if (applicable.length === 0) return false;
    const found = extractToken(input.request, applicable, { maxTokenBytes });
    // The API key itself (`authorization: Bearer ghk_…`) is not a second credential.
    return found.found ? found.token !== apiKey : found.error !== undefined;
  };
}
