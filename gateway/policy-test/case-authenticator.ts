/**
 * The Authenticator of policy tests: it hands the authorizer the verified
 * token a case describes (`auth`), without any token or key. The delegation
 * stage still runs: an `act` chain is checked against the caller and the
 * DelegationPolicies as `serve` checks a real token's.
 *
 * Test-only: `gatehouse serve` never builds one, and nothing in a
 * CheckRequest can reach it.
 */
import type { AuthenticationResult, Authenticator } from '../authorizer.js';
import { verifyDelegationChain } from '../identity/delegation-verifier.js';
import type { VerifiedToken } from '../identity/issuer-rule.js';
import type { DelegationPolicySet } from '../policy/index.js';
import type { CheckInput } from '../request/model.js';
import type { CaseAuth } from './case-file.js';

const ANONYMOUS: AuthenticationResult = { kind: 'anonymous' };
const NO_EFFECTS = { upstreamHeaders: [], upstreamHeadersToRemove: [] };

/**
 * @example
 * const authorizer = new Authorizer(config, store, new CaseAuthenticator(testCase.auth, store.currentDelegation()));
 */
export class CaseAuthenticator implements Authenticator {
  constructor(
    private readonly auth: CaseAuth | undefined,
    private readonly delegation: DelegationPolicySet,
  ) {}

  authenticate(input: CheckInput): Promise<AuthenticationResult> {
    const auth = this.auth;
    if (auth === undefined) return Promise.resolve(ANONYMOUS);
    const slash = auth.principal.lastIndexOf('/');
    const token: VerifiedToken = {
      principal: auth.principal,
      issuer: slash > 0 ? auth.principal.slice(0, slash) : auth.principal,
      subject: slash > 0 ? auth.principal.slice(slash + 1) : '',
      audiences: auth.audiences,
      ...(auth.presenter === undefined ? {} : { presenter: auth.presenter }),
      claims: auth.claims,
      algorithm: 'none (policy test case)',
    };
    const delegated = verifyDelegationChain(input, token, this.delegation);
    if (!delegated.ok) return Promise.resolve({ kind: 'rejected', code: delegated.code, reason: delegated.reason });
    return Promise.resolve({
      kind: 'authenticated',
      auth: {
        principal: token.principal,
        audiences: token.audiences,
        ...(token.presenter === undefined ? {} : { presenter: token.presenter }),
        claims: token.claims,
        ...(delegated.delegation === undefined ? {} : { delegation: delegated.delegation }),
      },
      effects: NO_EFFECTS,
    });
  }
}
