/**
 * The delegation stage, run by the TokenAuthenticator after a token verified:
 * read the token's actor chain, check that the current actor is the caller,
 * and ask the workload's DelegationPolicies whether the chain may act for the
 * subject here. A token without `act` passes untouched.
 */
import type { DelegationCode } from '../errors.js';
import { DecisionCode } from '../errors.js';
import type { DelegationPolicySet } from '../policy/index.js';
import type { CheckInput, Delegation } from '../request/model.js';
import { actorBoundToPeer } from './actor-binding.js';
import { readActorChain } from './delegation.js';
import type { VerifiedToken } from './issuer-rule.js';

/** Where the stage gets the live DelegationPolicies; swapped on reload (the PolicyStore). */
export interface DelegationPolicySource {
  currentDelegation(): DelegationPolicySet;
}

export type DelegationOutcome =
  | { readonly ok: true; readonly delegation: Delegation | undefined }
  | { readonly ok: false; readonly code: DelegationCode; readonly reason: string };

/**
 * Verifies the delegation a token carries for one request. The global
 * maximum depth is the policy set's (gatehouse.yaml `delegation.maxDepth`).
 *
 * @example
 * const outcome = verifyDelegationChain(input, token, store.currentDelegation());
 * if (!outcome.ok) return { kind: 'rejected', code: outcome.code, reason: outcome.reason };
 */
export function verifyDelegationChain(input: CheckInput, token: VerifiedToken, policies: DelegationPolicySet): DelegationOutcome {
  const chain = readActorChain(token.claims, policies.maxDepth);
  if (!chain.ok || chain.delegation === undefined) return chain;
  const { delegation } = chain;
  const binding = actorBoundToPeer(delegation.actor, input.peer, token.claims);
  if (!binding.ok) return { ok: false, code: DecisionCode.DelegationActorNotCaller, reason: binding.reason };
  const verdict = policies.evaluate({
    subject: token.principal,
    actors: delegation.actors,
    audiences: token.audiences,
    workload: input.workload,
    method: input.request.method,
    path: input.request.path,
    host: input.request.host,
    ...(Object.hasOwn(token.claims, 'may_act') ? { mayAct: token.claims['may_act'] } : {}),
  });
  if (!verdict.ok) return verdict;
  return { ok: true, delegation };
}
