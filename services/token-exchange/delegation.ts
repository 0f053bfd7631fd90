/**
 * Who may exchange whose token for what: the gateway's DelegationPolicy
 * documents (gateway/policy), read from the configured paths and asked once
 * per exchange, and the OAuth error a refusal becomes.
 */
import { DecisionCode } from '../../gateway/errors.js';
import {
  compileDelegationPolicies,
  parseDelegationPolicies,
  readPolicySources,
  type DelegationPolicySet,
  type DelegationVerdict,
} from '../../gateway/policy/index.js';
import type { TokenExchangeConfig } from './config.js';
import { OAuthErrorCode, type OAuthError } from './types.js';

/** What the exchange needs of the delegation rules: `DelegationPolicySet.evaluate`, without workload or request (every policy applies). */
export type DelegationRules = Pick<DelegationPolicySet, 'evaluate'>;

/**
 * Reads and compiles the DelegationPolicy documents of `delegation.paths`
 * (other kinds in the same files are skipped). No paths: every exchange is
 * refused, since no rule permits any delegation.
 *
 * @throws ValidationError naming file, document and field.
 * @example
 * const rules = await loadDelegationRules(config.delegation);
 */
export async function loadDelegationRules(settings: TokenExchangeConfig['delegation']): Promise<DelegationPolicySet> {
  const options = { rootNamespace: settings.rootNamespace, defaultNamespace: settings.defaultNamespace };
  const loaded = parseDelegationPolicies(await readPolicySources([...settings.paths]), options);
  return compileDelegationPolicies(loaded, { ...options, maxDepth: settings.maxDepth });
}

/**
 * The OAuth error for a refused delegation:
 * - `DELEGATION_NOT_PERMITTED` (no rule lets this actor, for this subject, reach the audience) → `invalid_target`;
 * - `DELEGATION_MAY_ACT_MISMATCH` (the subject token's `may_act` names another actor) → `unauthorized_client`;
 * - a chain too deep, cyclic or malformed → `invalid_grant`: this subject token cannot be delegated further.
 */
export function delegationError(verdict: Extract<DelegationVerdict, { ok: false }>): OAuthError {
  const description = `${verdict.code}: ${verdict.reason}`;
  switch (verdict.code) {
    case DecisionCode.DelegationNotPermitted:
      return { error: OAuthErrorCode.InvalidTarget, description };
    case DecisionCode.DelegationMayActMismatch:
    case DecisionCode.DelegationActorNotCaller:
      return { error: OAuthErrorCode.UnauthorizedClient, description };
    default:
      return { error: OAuthErrorCode.InvalidGrant, description };
  }
}
