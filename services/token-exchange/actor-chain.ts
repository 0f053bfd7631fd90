/**
 * RFC 8693 §4.1 `act` claims: reading a token's actor chain, and nesting a
 * new actor on top of it.
 */

/** A nested `act` claim as minted: only `sub` (and the prior actors) are carried. */
export interface ActClaim {
  readonly sub: string;
  readonly act?: ActClaim;
}

/** Longer chains are refused before any policy sees them. */
export const maxActorChainLength = 16;

export type ActorChain =
  { readonly ok: true; readonly actors: readonly string[]; readonly act?: ActClaim } | { readonly ok: false; readonly reason: string };

/**
 * The actors of a token, current (outermost `act`) first, innermost last;
 * empty when the token has no `act`. RFC 8693 §4.1: only the outermost `act`
 * is the current actor; nested ones are prior actors, kept for audit and
 * policy.
 *
 * @example
 * readActorChain({ sub: 'bob', act: { sub: 'spiffe://td/share', act: { sub: 'spiffe://td/gw' } } }['act']);
 * // { ok: true, actors: ['spiffe://td/share', 'spiffe://td/gw'], act: { sub: 'spiffe://td/share', act: { sub: 'spiffe://td/gw' } } }
 */
export function readActorChain(act: unknown): ActorChain {
  if (act === undefined) return { ok: true, actors: [] };
  const actors: string[] = [];
  let level: unknown = act;
  while (level !== undefined) {
    if (typeof level !== 'object' || level === null || Array.isArray(level)) {
      return { ok: false, reason: 'an "act" claim is not a JSON object' };
    }
    const sub = (level as Record<string, unknown>)['sub'];
    if (typeof sub !== 'string' || sub === '') return { ok: false, reason: 'an "act" claim has no "sub"' };
    actors.push(sub);
    if (actors.length > maxActorChainLength) return { ok: false, reason: `the actor chain is longer than ${maxActorChainLength}` };
    level = (level as Record<string, unknown>)['act'];
  }
  return { ok: true, actors, act: nest(actors) };
}

/**
 * The `act` claim of a token whose actors are `actors`, current first.
 *
 * @example
 * nest(['spiffe://td/share', 'spiffe://td/gw']); // { sub: 'spiffe://td/share', act: { sub: 'spiffe://td/gw' } }
 */
export function nest(actors: readonly string[]): ActClaim | undefined {
  let act: ActClaim | undefined;
  for (let i = actors.length - 1; i >= 0; i--) act = act === undefined ? { sub: actors[i]! } : { sub: actors[i]!, act };
  return act;
}
