/**
 * RFC 8693 §4.1 actor chains: a verified token's `act` claim names the
 * current actor (its `sub`); a nested `act` inside it names the actor before
 * that, and so on. Read once, bounded, into a `Delegation` that cannot be
 * invalid.
 */
import { DecisionCode, type DelegationCode } from '../errors.js';
import type { Delegation } from '../request/model.js';

/** Longest actor ID accepted, in characters (a SPIFFE ID is at most 2048 bytes). */
export const maxActorLength = 2048;

export type ActorChainResult =
  /** `delegation` is undefined when the token has no `act`: a direct call by the subject. */
  | { readonly ok: true; readonly delegation: Delegation | undefined }
  | { readonly ok: false; readonly code: DelegationCode; readonly reason: string };

/**
 * Reads the actor chain of a verified token's claims. Refuses an `act` that
 * is not an object with a non-empty string `sub` (DELEGATION_MALFORMED), an
 * actor named twice (DELEGATION_CYCLE) and more than `maxChainDepth` actors
 * (DELEGATION_TOO_DEEP); reading stops there, however deep the nesting goes.
 *
 * @example
 * readActorChain({ sub: 'bob', act: { sub: 'spiffe://td/ns/default/sa/share' } }, 3);
 * // { ok: true, delegation: { actor: 'spiffe://td/ns/default/sa/share', actors: ['spiffe://td/ns/default/sa/share'], depth: 1 } }
 */
export function readActorChain(claims: Readonly<Record<string, unknown>>, maxChainDepth: number): ActorChainResult {
  if (!Object.hasOwn(claims, 'act')) return { ok: true, delegation: undefined };
  const actors: string[] = [];
  let act: unknown = claims['act'];
  // RFC 8693 §4.1: only the outermost act is the current actor; nested ones are prior actors, innermost earliest.
  while (act !== undefined) {
    const where = actors.length === 0 ? 'act' : `act${'.act'.repeat(actors.length)}`;
    if (typeof act !== 'object' || act === null || Array.isArray(act)) {
      return malformed(`${where} must be an object, not ${describe(act)}`);
    }
    const record = act as Record<string, unknown>;
    const sub = record['sub'];
    if (typeof sub !== 'string' || sub === '') return malformed(`${where}.sub must be a non-empty string`);
    if (sub.length > maxActorLength) return malformed(`${where}.sub is longer than ${maxActorLength} characters`);
    if (actors.includes(sub)) return { ok: false, code: DecisionCode.DelegationCycle, reason: `actor ${sub} appears twice in the chain` };
    actors.push(sub);
    if (actors.length > maxChainDepth) {
      return {
        ok: false,
        code: DecisionCode.DelegationTooDeep,
        reason: `the actor chain is longer than the allowed ${maxChainDepth}`,
      };
    }
    act = Object.hasOwn(record, 'act') ? record['act'] : undefined;
  }
  return { ok: true, delegation: { actor: actors[0] as string, actors, depth: actors.length } };
}

function malformed(reason: string): ActorChainResult {
  return { ok: false, code: DecisionCode.DelegationMalformed, reason };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value;
}
