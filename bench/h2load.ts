/**
 * Runs h2load (Debian package nghttp2-client) against a gRPC unary method,
 * posting one pre-encoded gRPC frame per request, and reads its summary.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pinned } from './processes.js';

export const H2LOAD = '/usr/bin/h2load';

export interface H2loadRun {
  readonly port: number;
  readonly path: string;
  /** File holding the gRPC-framed request body. */
  readonly bodyFile: string;
  readonly clients: number;
  readonly streams: number;
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

/** The h2load arguments for a run, as they appear on a command line. */
export function h2loadArgs(run: Omit<H2loadRun, 'core'>): string[] {
  return [
    '-D',
    String(run.durationSeconds),
    '--warm-up-time',
    String(run.warmupSeconds),
    '-c',
    String(run.clients),
    '-m',
    String(run.streams),
    '-d',
    run.bodyFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `http://127.0.0.1:${run.port}${run.path}`,
  ];
}

export function h2loadAvailable(): boolean {
  return existsSync(H2LOAD);
}

/**
 * Runs h2load and parses its summary. Rejects when any request failed or
 * got a non-2xx HTTP status (gRPC errors would still be HTTP 200: callers
 * verify the gRPC answer separately).
 */
export function runH2load(run: H2loadRun): Promise<H2loadResult> {
  const [file, args] = pinned(run.core, H2LOAD, h2loadArgs(run));
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: (run.durationSeconds + run.warmupSeconds + 30) * 1000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`h2load failed: ${error.message}\n${stdout}\n${stderr}`));
      const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout);
      const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
        stdout,
      );
      const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
      if (!rate || !requests || !codes) return reject(new Error(`cannot read h2load's summary:\n${stdout}`));
      const [done, succeeded, failed, errored] = [requests[3], requests[4], requests[5], requests[6]].map(Number) as [
        number,
        number,
        number,
        number,
      ];
      const [status2xx, other] = [Number(codes[1]), Number(codes[2]) + Number(codes[3]) + Number(codes[4])];
      // With -D, status codes are counted from a slightly different instant than requests
      // (streams in flight when the warm-up ends), so only non-2xx answers count as failures.
      if (failed > 0 || errored > 0 || other > 0 || succeeded === 0) {
        return reject(new Error(`h2load saw failures (${failed} failed, ${errored} errored, ${other} non-2xx):\n${stdout}`));
      }
      resolve({ requestsPerSecond: Number(rate[1]), done, succeeded, status2xx });
    });
  });
}
