/**
 * Cache RSS: the memory of a process holding 100,000 verified tokens in the
 * TokenCache's L1, measured in child processes (cache-rss-child.ts) as RSS
 * after forced GC, minus the same before the fill.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CacheRssSample } from './cache-rss-child.js';
import { cpuPlan, pinned } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatSummary, summarize } from './stats.js';

export interface CacheRssOptions {
  readonly entries: number;
  readonly runs: number;
}

export const CACHE_RSS_DEFAULTS: CacheRssOptions = { entries: 100_000, runs: 3 };
const TARGET_MB = 150;
const CHILD = fileURLToPath(new URL('./cache-rss-child.js', import.meta.url));
const MB = 1024 * 1024;

function runChild(entries: number, core: number | undefined): Promise<CacheRssSample> {
  const [file, args] = pinned(core, process.execPath, ['--expose-gc', CHILD, String(entries), 'default']);
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`cache-rss child failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim()) as CacheRssSample);
    });
  });
}

export async function runCacheRss(options: CacheRssOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const samples: CacheRssSample[] = [];
  for (let run = 0; run < options.runs; run++) {
    const sample = await runChild(options.entries, cores.server);
    if (sample.held !== options.entries)
      throw new Error(`L1 held ${sample.held} of ${options.entries} entries (evicted by the byte bound?)`);
    samples.push(sample);
    log(
      `cache-rss #${run + 1}: RSS +${((sample.filledRss - sample.baselineRss) / MB).toFixed(1)} MiB, total ${(sample.filledRss / MB).toFixed(1)} MiB`,
    );
  }
  const mib = (pick: (sample: CacheRssSample) => number) => summarize(samples.map((sample) => pick(sample) / MB));
  const added = mib((sample) => sample.filledRss - sample.baselineRss);
  const total = mib((sample) => sample.filledRss);
  const heap = mib((sample) => sample.filledHeap - sample.baselineHeap);
  const first = samples[0] as CacheRssSample;
  const perEntry = (added.median * MB) / options.entries;
  const markdown = [
    table(
      ['measure', `${options.runs} runs: median (min–max)`],
      [
        [`RSS added by ${formatNumber(options.entries)} cached tokens, MiB`, `**${formatSummary(added, 1)}**`],
        ['RSS of the process when full, MiB', formatSummary(total, 1)],
        ['V8 heap used added, MiB', formatSummary(heap, 1)],
        ['RSS added per entry, bytes', formatNumber(perEntry)],
        ["entry size as L1's byte bound counts it (JSON + key), bytes", formatNumber(first.entryJsonBytes)],
        ['L1 bytes counted when full / `jwt.cache.l1MaxBytes` default', `${(first.l1Bytes / MB).toFixed(1)} / 64.0 MiB`],
      ],
    ),
    '',
    'Command: `npm run build && node dist/bench/run.js --only cache-rss`.',
    '',
    `- Each run is a fresh \`node --expose-gc\` process (bench/cache-rss-child.ts) that imports the compiled TokenCache, creates it with \`maxEntries: ${formatNumber(options.entries)}\` and the default byte bound, forces GC (four \`gc()\` calls, yielding between them) and reads \`process.memoryUsage()\`; then it fills L1 through \`lookup\` (as the gateway does: key = SHA-256 of the fingerprint and a token of ~400 characters, verification a resolved promise) and reads again after forced GC. The cache held all ${formatNumber(options.entries)} entries in every run (checked).`,
    `- Each entry is a VerifiedToken as gateway/identity/jwt.ts builds it, over claims parsed from JSON as jose parses them: iss, sub, aud, exp, iat, jti, azp, email, roles (2), scope; distinct sub, email and jti per token.`,
  ].join('\n');
  return {
    name: 'cache-rss',
    title: 'Token cache memory',
    targets: [
      {
        target: `RSS of ${formatNumber(options.entries)} cached tokens ≤ ${TARGET_MB} MB`,
        result: `${((added.median * MB) / 1e6).toFixed(0)} MB added (${((total.median * MB) / 1e6).toFixed(0)} MB total)`,
        met: (added.median * MB) / 1e6 <= TARGET_MB,
      },
    ],
    markdown,
  };
}
