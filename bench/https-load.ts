/**
 * What the HTTPS benchmarks share: running the load client
 * (bench/exchange-load.ts) in its own pinned process, checking its answers,
 * and starting the null HTTPS server baseline.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExchangeLoadResult, ExchangeLoadSpec } from './exchange-load.js';
import { freePort, pinned, spawnServer, type ServerProcess } from './processes.js';

const LOAD_CLIENT = fileURLToPath(new URL('./exchange-load.js', import.meta.url));
const NULL_HTTPS_SERVER = fileURLToPath(new URL('./null-https-server.js', import.meta.url));

/** Runs the load client pinned to `core`; resolves with its result. */
export function runHttpsLoad(spec: ExchangeLoadSpec, core: number | undefined): Promise<ExchangeLoadResult> {
  const [file, args] = pinned(core, process.execPath, [LOAD_CLIENT, JSON.stringify(spec)]);
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: (spec.warmupSeconds + spec.durationSeconds + 60) * 1000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`HTTPS load client failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as ExchangeLoadResult);
    });
  });
}

/** The result, if only 200 answers came back and distinct bodies did not run out; else throws naming `what`. */
export function checkedLoad(result: ExchangeLoadResult, what: string): ExchangeLoadResult {
  const other = Object.entries(result.statuses).filter(([status]) => status !== '200');
  if (result.exhausted) throw new Error(`${what}: the load client ran out of distinct bodies`);
  if (other.length > 0 || result.errors > 0)
    throw new Error(`${what}: ${result.errors} errors, statuses ${JSON.stringify(result.statuses)} (only 200 is expected)`);
  return result;
}

/** The null HTTPS server with `server.crt`, `server.key` and `ca.crt` of `dir`, pinned to `core`, once it serves. */
export async function startNullHttpsServer(dir: string, core: number | undefined): Promise<ServerProcess> {
  const server = spawnServer({
    script: NULL_HTTPS_SERVER,
    args: [path.join(dir, 'server.crt'), path.join(dir, 'server.key'), path.join(dir, 'ca.crt')],
    core,
    port: await freePort(),
  });
  await waitForOutput(server, 'serving');
  return server;
}

/** Resolves once the process has written `text`; throws after 15 s. */
export async function waitForOutput(server: ServerProcess, text: string): Promise<void> {
  const giveUp = Date.now() + 15_000;
  while (!server.output().includes(text)) {
    if (Date.now() > giveUp) throw new Error(`did not start:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
