/**
 * Verified tokens and verdicts for the cache tests, a silent logger, a
 * settable clock, and a way to wait for something that happens elsewhere.
 */
import { randomUUID } from 'node:crypto';
import type { TokenVerdict, VerifiedToken } from '../../../gateway/identity/issuer-rule.js';
import { createLogger } from '../../../gateway/log.js';

export const silentLog = createLogger('silent');

/** A verified token for `sub` (default: a fresh one), expiring in an hour unless told otherwise. */
export function verifiedToken(overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  const nowSeconds = Math.floor(Date.now() / 1000);
  const subject = overrides.subject ?? `user-${randomUUID()}`;
  const issuer = overrides.issuer ?? 'https://idp.example';
  return {
    principal: `${issuer}/${subject}`,
    issuer,
    subject,
    audiences: ['api'],
    claims: { iss: issuer, sub: subject, aud: 'api', scope: 'todos:read' },
    expiresAt: nowSeconds + 3600,
    issuedAt: nowSeconds - 10,
    jti: randomUUID(),
    algorithm: 'ES256',
    ...overrides,
  };
}

export function ok(token: VerifiedToken): TokenVerdict {
  return { ok: true, token };
}

/** A clock the test moves by hand (milliseconds). */
export class ManualClock {
  constructor(public ms = Date.now()) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A `verifyLocally` that answers `verdict` and counts its calls. */
export function countingVerifier(verdict: TokenVerdict, delayMs = 0): { calls: number; verify: () => Promise<TokenVerdict> } {
  const state = {
    calls: 0,
    verify: async (): Promise<TokenVerdict> => {
      state.calls++;
      if (delayMs > 0) await sleep(delayMs);
      return verdict;
    },
  };
  return state;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is true; returns how long that took, or throws after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(5);
  }
  return Date.now() - started;
}
