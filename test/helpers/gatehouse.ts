/**
 * Starts the real `gatehouse serve` process on a free loopback port, with a
 * configuration and policy files written to a temporary folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** The command as it ships: the bundled entry point. */
export const CLI = fileURLToPath(new URL('../../gateway/cli/gatehouse.mjs', import.meta.url));

export interface RunningGatehouse {
  readonly port: number;
  readonly address: string;
  /** `http://127.0.0.1:<port>` of the admin HTTP port (/metrics, /healthz, /readyz), once the process logs it. */
  adminHttpUrl(): Promise<string>;
  readonly process: ChildProcess;
  /** Every JSON log line the process wrote so far. */
  readonly logs: Record<string, unknown>[];
  /** Raw stdout and stderr text, for asserting what was never logged. */
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<number | null>;
}

export interface GatehouseFixture {
  /** Gatehouse configuration YAML (without listen; the port is chosen here). */
  config?: string;
  /** File name → content, written to `<dir>/policies/`. */
  policies?: Record<string, string>;
  /** Extra files (relative path → content), e.g. certificates. */
  files?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
}

/** Writes a fixture folder and returns its path and the config file path. */
export async function writeFixture(fixture: GatehouseFixture): Promise<{ dir: string; configFile: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-test-'));
  await mkdir(path.join(dir, 'policies'));
  for (const [name, text] of Object.entries(fixture.policies ?? {})) await writeFile(path.join(dir, 'policies', name), text);
  for (const [name, text] of Object.entries(fixture.files ?? {})) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  const configFile = path.join(dir, 'gatehouse.yaml');
  await writeFile(configFile, fixture.config ?? 'policies: { paths: [./policies] }\n');
  return { dir, configFile };
}

/**
 * Spawns `gatehouse serve` and resolves once it logs that it is serving.
 *
 * @example
 * const gatehouse = await startGatehouse({ policies: { 'allow.yaml': allowAll } });
 * t.teardown(() => gatehouse.stop());
 */
export async function startGatehouse(
  fixture: GatehouseFixture | { configFile: string },
  env: NodeJS.ProcessEnv = {},
): Promise<RunningGatehouse> {
  const configFile = 'configFile' in fixture ? fixture.configFile : (await writeFixture(fixture)).configFile;
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
    // Free ports for the Check listener and the admin HTTP port, so that tests can run side by side.
    env: { ...process.env, PORT: '0', OTEL_EXPORTER_PROMETHEUS_PORT: '0', ...('env' in fixture ? fixture.env : {}), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let text = '';
  child.stderr.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gatehouse did not start:\n${text}`)), 15_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      text += `${line}\n`;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'serving') {
          clearTimeout(timer);
          resolve(entry.port as number);
        }
      } catch {
        // not a JSON line; kept in text
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gatehouse exited with ${code} before serving:\n${text}`));
    });
  });

  return {
    port,
    address: `127.0.0.1:${port}`,
    process: child,
    logs,
    adminHttpUrl: async () => {
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
        const line = logs.find((entry) => entry.msg === 'admin http serving');
        if (line) return `http://127.0.0.1:${String(line.port)}`;
      }
      throw new Error(`no admin http port:\n${text}`);
    },
    output: () => text,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
