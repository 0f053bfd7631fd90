/**
 * Runs the `gatehouse` command as its users do: the bundled entry point in a
 * child process, with arguments and optional stdin.
 */
import { execFile } from 'node:child_process';
import { CLI } from './gatehouse.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * @example
 * const { code, stdout } = await runCli(['test', 'deploy/examples/todo/tests']);
 */
export function runCli(args: readonly string[], input?: string, options: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}
