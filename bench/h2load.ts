/**
 * Runs h2load (Debian package nghttp2-client) against a gRPC unary method,
 * posting one pre-encoded gRPC frame per request, and reads its summary:
 * in a closed loop (each connection keeps a number of requests in flight),
 * or at a fixed rate with one line per request in a log file.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pinned } from './processes.js';

export const H2LOAD = '/usr/bin/h2load';

/** What every run sends, and where. */
interface H2loadTarget {
  readonly port: number;
  readonly path: string;
  /** File holding the gRPC-framed request body. */
  readonly bodyFile: string;
  readonly clients: number;
  /** Requests in flight per connection at most (h2load -m). */
  readonly streams: number;
}

export interface H2loadRun extends H2loadTarget {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly core?: number;
}

export interface H2loadResult {
  readonly requestsPerSecond: number;
  readonly done: number;
  readonly succeeded: number;
  readonly status2xx: number;
}

/**
 * A fixed-rate run: `ratePerSecond` requests per second in all, split evenly
 * over the clients (h2load --rps), for `seconds`, each request logged.
 */
export interface H2loadFixedRateRun extends H2loadTarget {
  readonly ratePerSecond: number;
  readonly seconds: number;
  readonly logFile: string;
  readonly core?: number;
}

/** One line of h2load's --log-file. */
export interface H2loadRequest {
  /** When h2load sent the request's headers, µs since the epoch. */
  readonly startMicros: number;
  /** HTTP status of the answer; -1 for a failed stream. */
  readonly status: number;
  /** From sending to the end of the answer, µs. */
  readonly durationMicros: number;
}

export interface H2loadFixedRateResult {
  /** Requests that failed or got a non-2xx status, over the whole run. */
  readonly failed: number;
  /** The log, in the order h2load wrote it (by end of answer). */
  readonly requests: readonly H2loadRequest[];
}

/**
 * h2load's rate timer fires at most every 10 ms and sends what is due in one
 * burst. Clients started this far apart (-r 1 --rate-period) fire in turn, so
 * that `RATE_TICK_MS / CLIENT_STAGGER_MS` clients spread the bursts over each tick.
 */
export const RATE_TICK_MS = 10;
export const CLIENT_STAGGER_MS = 1;

/** The h2load arguments for a closed-loop run, as they appear on a command line. */
export function h2loadArgs(run: Omit<H2loadRun, 'core'>): string[] {
  return ['-D', String(run.durationSeconds), '--warm-up-time', String(run.warmupSeconds), ...targetArgs(run)];
}

/**
 * The h2load arguments for a fixed-rate run. h2load cannot combine -D with
 * staggered connections (-r), so the run is a number of requests (-n) that
 * takes `seconds` at the rate.
 */
export function h2loadFixedRateArgs(run: Omit<H2loadFixedRateRun, 'core' | 'logFile'> & { readonly logFile?: string }): string[] {
  return [
    '-n',
    String(Math.round(run.ratePerSecond * run.seconds)),
    '--rps',
    String(run.ratePerSecond / run.clients),
    '-r',
    '1',
    '--rate-period',
    `${CLIENT_STAGGER_MS}ms`,
    ...(run.logFile === undefined ? [] : ['--log-file', run.logFile]),
    ...targetArgs(run),
  ];
}

function targetArgs(target: H2loadTarget): string[] {
  return [
    '-c',
    String(target.clients),
    '-m',
    String(target.streams),
    '-d',
    target.bodyFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `http://127.0.0.1:${target.port}${target.path}`,
  ];
}

export function h2loadAvailable(): boolean {
  return existsSync(H2LOAD);
}

/**
 * Runs h2load in a closed loop and parses its summary. Rejects when any
 * request failed or got a non-2xx HTTP status (gRPC errors would still be
 * HTTP 200: callers verify the gRPC answer separately).
 */
export async function runH2load(run: H2loadRun): Promise<H2loadResult> {
  const stdout = await startH2load(run.core, h2loadArgs(run), run.durationSeconds + run.warmupSeconds).output;
  const summary = parseSummary(stdout);
  // With -D, status codes are counted from a slightly different instant than requests
  // (streams in flight when the warm-up ends), so only non-2xx answers count as failures.
  if (summary.failed > 0 || summary.errored > 0 || summary.non2xx > 0 || summary.succeeded === 0) {
    throw new Error(`h2load saw failures (${summary.failed} failed, ${summary.errored} errored, ${summary.non2xx} non-2xx):\n${stdout}`);
  }
  return summary;
}

/**
 * Starts a fixed-rate run: resolves `result` with the failures h2load
 * counted and its log; `pid` is h2load's, while it runs.
 */
export function startH2loadAtFixedRate(run: H2loadFixedRateRun): { pid: number; result: Promise<H2loadFixedRateResult> } {
  const h2load = startH2load(run.core, h2loadFixedRateArgs(run), run.seconds);
  const result = h2load.output.then(async (stdout) => ({
    failed: parseSummary(stdout).failed,
    requests: parseH2loadLog(await readFile(run.logFile, 'utf8')),
  }));
  return { pid: h2load.pid, result };
}

/** h2load's own summary of a fixed-rate run: counts, and its "time for request" line in ms. */
export interface H2loadRateSummary {
  readonly done: number;
  /** Failed streams, errors, timeouts and non-2xx answers, over the whole run. */
  readonly failed: number;
  readonly requestTime: { readonly minMs: number; readonly maxMs: number; readonly meanMs: number };
}

/**
 * A fixed-rate run without a per-request log, for runs too long to keep one
 * (the soak): resolves with h2load's summary when it ends.
 */
export async function runH2loadAtFixedRate(run: Omit<H2loadFixedRateRun, 'logFile'>): Promise<H2loadRateSummary> {
  const stdout = await startH2load(run.core, h2loadFixedRateArgs(run), run.seconds).output;
  const summary = parseSummary(stdout);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(stdout);
  if (!time) throw new Error(`cannot read h2load's request times:\n${stdout}`);
  const [minMs, maxMs, meanMs] = [time[1], time[2], time[3]].map((text) => milliseconds(text ?? '')) as [number, number, number];
  return { done: summary.done, failed: summary.failed + summary.errored + summary.non2xx, requestTime: { minMs, maxMs, meanMs } };
}

/** An h2load duration (`310us`, `1.60ms`, `2.01s`) in ms. */
function milliseconds(text: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!match) throw new Error(`cannot read h2load's duration '${text}'`);
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'];
}

/**
 * Parses h2load's --log-file: per line, tab-separated, the start time (µs
 * since the epoch), the HTTP status (-1 for a failed stream) and the µs
 * until the end of the answer.
 *
 * @example
 * parseH2loadLog('1795960800123456\t200\t412\n') // → [{ startMicros: 1795960800123456, status: 200, durationMicros: 412 }]
 */
export function parseH2loadLog(text: string): H2loadRequest[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [start, status, duration] = line.split('\t').map(Number);
      if (start === undefined || status === undefined || duration === undefined || [start, status, duration].some(Number.isNaN))
        throw new Error(`cannot read h2load's log line '${line}'`);
      return { startMicros: start, status, durationMicros: duration };
    });
}

/** Starts h2load pinned to `core`; `output` resolves with its stdout when it exits with status 0. */
function startH2load(core: number | undefined, h2loadArguments: string[], seconds: number): { pid: number; output: Promise<string> } {
  const [file, args] = pinned(core, H2LOAD, h2loadArguments);
  let pid: number | undefined;
  const output = new Promise<string>((resolve, reject) => {
    const child = execFile(file, args, { timeout: (seconds + 30) * 1000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`h2load failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
    pid = child.pid;
  });
  if (pid === undefined) throw new Error(`cannot start ${H2LOAD}`);
  return { pid, output };
}

interface H2loadSummary extends H2loadResult {
  readonly failed: number;
  readonly errored: number;
  readonly non2xx: number;
}

function parseSummary(stdout: string): H2loadSummary {
  const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
    stdout,
  );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!rate || !requests || !codes) throw new Error(`cannot read h2load's summary:\n${stdout}`);
  return {
    requestsPerSecond: Number(rate[1]),
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    status2xx: Number(codes[1]),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
  };
}
