/**
 * Starting and stopping the servers under test: each a separate Node
 * process, optionally pinned to one CPU core with `taskset`, on a port chosen
 * here and handed over in $PORT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** The built `gatehouse` command. */
/** The command as it ships: the bundled entry point. */
export const GATEHOUSE_CLI = fileURLToPath(new URL('../gateway/cli/gatehouse.mjs', import.meta.url));
/** The built baseline servers. */
export const NULL_SERVER = fileURLToPath(new URL('./null-server.js', import.meta.url));
export const NAIVE_SERVER = fileURLToPath(new URL('./naive-server.js', import.meta.url));
export const H2_FLOOR_SERVER = fileURLToPath(new URL('./h2-floor-server.js', import.meta.url));

const TASKSET = '/usr/bin/taskset';

/**
 * Cores for the server and the load generator: 1 and 0 when there are two
 * or more and `taskset` exists; otherwise nothing is pinned.
 */
export function cpuPlan(): { server?: number; load?: number; note: string } {
  if (!existsSync(TASKSET)) return { note: 'taskset not found: processes are not pinned' };
  if (os.availableParallelism() < 2) return { server: 0, load: 0, note: 'one core: server and load generator share core 0' };
  return { server: 1, load: 0, note: 'server pinned to core 1 (taskset -c 1), load generator to core 0 (taskset -c 0)' };
}

/** The command line, prefixed with `taskset -c <core>` when a core is given. */
export function pinned(core: number | undefined, command: string, args: readonly string[]): [string, string[]] {
  return core === undefined ? [command, [...args]] : [TASKSET, ['-c', String(core), command, ...args]];
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Node options that make a server write V8 CPU profiles into `dir` (`--cpu-prof`); none without a directory. */
export function cpuProfileOptions(dir: string | undefined): string[] {
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', dir];
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The Node process's id (`taskset` execs it, so the id is the same when pinned). */
  readonly pid: number;
  readonly port: number;
  /** stdout and stderr so far, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServerCommand {
  /** Node script and its arguments. */
  readonly script: string;
  readonly args?: readonly string[];
  readonly nodeOptions?: readonly string[];
  readonly core?: number;
  readonly port: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Spawns `node <script>` with $PORT set. Does not wait for it to serve;
 * callers poll with a Check (see `waitForCheck`).
 */
export function spawnServer(command: ServerCommand): ServerProcess {
  return spawnProgram(process.execPath, [...(command.nodeOptions ?? []), command.script, ...(command.args ?? [])], command);
}

/**
 * Spawns any server program, pinned to `core` when given, with $PORT set.
 * Its stdout and stderr are kept for `output()` (the first 64 KiB), or go
 * to the file descriptor `stdio` when one is given.
 */
export function spawnProgram(
  program: string,
  programArgs: readonly string[],
  options: Pick<ServerCommand, 'core' | 'port' | 'env'> & { readonly stdio?: number },
): ServerProcess {
  const [file, args] = pinned(options.core, program, programArgs);
  const child = spawn(file, args, {
    env: { ...process.env, ...options.env, PORT: String(options.port) },
    stdio: options.stdio === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', options.stdio, options.stdio],
  });
  let text = '';
  const keep = (chunk: Buffer) => {
    if (text.length < 64 * 1024) text += chunk.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`cannot start ${program}`);
  return {
    child,
    pid: child.pid,
    port: options.port,
    output: () => text,
    stop: async (graceMs = 5000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
