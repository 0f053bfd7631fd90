/**
 * Child process of the cache-rss benchmark (run with --expose-gc): fills a
 * TokenCache's L1 with verified tokens through `lookup`, as the gateway
 * does, and prints RSS and heap before and after, each after forced GC.
 *
 *   node --expose-gc cache-rss-child.js <entries> <maxBytes | default>
 */
import { randomBytes } from 'node:crypto';
import type { VerifiedToken } from '../gateway/identity/issuer-rule.js';
import { TokenCache, tokenCacheKey } from '../gateway/cache/token-cache.js';
import { userClaims } from './jwt-tokens.js';

export interface CacheRssSample {
  readonly entries: number;
  readonly held: number;
  readonly l1Bytes: number;
  readonly baselineRss: number;
  readonly filledRss: number;
  readonly baselineHeap: number;
  readonly filledHeap: number;
  /** JSON size of one entry as the cache counts it. */
  readonly entryJsonBytes: number;
}

const ISSUER = 'https://login.example.com/realms/todo';
const FINGERPRINT = randomBytes(32).toString('base64url');

async function settledMemory(): Promise<{ rss: number; heap: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

/** A VerifiedToken as gateway/identity/jwt.ts builds it, over claims parsed from JSON as jose parses them. */
function verifiedToken(n: number): VerifiedToken {
  const claims = JSON.parse(JSON.stringify(userClaims(ISSUER, n))) as Record<string, unknown> & {
    sub: string;
    exp: number;
    iat: number;
    jti: string;
    azp: string;
  };
  return {
    principal: `${ISSUER}/${claims.sub}`,
    issuer: ISSUER,
    subject: claims.sub,
    audiences: ['todos'],
    presenter: claims.azp,
    claims,
    expiresAt: claims.exp,
    issuedAt: claims.iat,
    jti: claims.jti,
    algorithm: 'RS256',
  };
}

async function main(): Promise<void> {
  const entries = Number(process.argv[2] ?? 100_000);
  const maxBytes = process.argv[3] === undefined || process.argv[3] === 'default' ? undefined : Number(process.argv[3]);
  const cache = new TokenCache({ maxEntries: entries, ...(maxBytes === undefined ? {} : { maxBytes }) });
  const sample = verifiedToken(-1);
  const entryJsonBytes = Buffer.byteLength(JSON.stringify({ token: sample, verifiedAt: Date.now() })) + 43;
  const before = await settledMemory();
  for (let i = 0; i < entries; i++) {
    // The token itself is not kept (only its hash is the key), so a stand-in of a typical length will do.
    const token = `${randomBytes(300).toString('base64url')}.${i}`;
    const { verdict } = await cache.lookup(tokenCacheKey(token, FINGERPRINT), 'RS256', () =>
      Promise.resolve({ ok: true, token: verifiedToken(i) }),
    );
    if (!verdict.ok) throw new Error('the fill was refused');
  }
  const after = await settledMemory();
  const stats = cache.stats();
  const result: CacheRssSample = {
    entries,
    held: stats.l1.entries,
    l1Bytes: stats.l1.bytes,
    baselineRss: before.rss,
    filledRss: after.rss,
    baselineHeap: before.heap,
    filledHeap: after.heap,
    entryJsonBytes,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`cache-rss-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
