/**
 * The token-exchange service as it ships: `gatehouse token-exchange serve`
 * in its own process, on loopback ports chosen here, with a configuration
 * written to a temporary folder. The process trusts the test mesh CA
 * (`NODE_EXTRA_CA_CERTS`), so it can fetch key sets over HTTPS, its own
 * included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { exportPKCS8 } from 'jose';
import { CLI } from './gatehouse.js';
import { freePort } from './redis.js';
import { generateTestKey, type TestKey } from './tokens.js';
import type { Environment } from './token-exchange.js';

export interface TokenExchangeProcessOptions {
  /** DelegationPolicy YAML files (file name → text). */
  readonly policies?: Record<string, string>;
  /** `subjectIssuers` entries as YAML list items; the environment's identity provider (audience `share`) is always first. */
  readonly subjectIssuers?: (self: { issuer: string; jwksUri: string }) => string;
  /** Extra YAML appended to the configuration (tokens, limits…). */
  readonly extra?: string;
  /** The signing key; an ES256 key `k1` when absent. */
  readonly signingKey?: TestKey;
  /** Put in front of the command, e.g. `['taskset', '-c', '1']`. */
  readonly launcher?: readonly string[];
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
}

export interface TokenExchangeProcess {
  readonly process: ChildProcess;
  /** `https://127.0.0.1:<httpsPort>`: the issuer, and where the HTTPS listener is. */
  readonly issuer: string;
  readonly tokenUrl: string;
  readonly jwksUri: string;
  readonly httpsPort: number;
  readonly grpcPort: number;
  /** The key the service signs with (it also lets a test forge a token the service's verifiers trust). */
  readonly signingKey: TestKey;
  /** stdout and stderr so far. */
  output(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Writes the configuration and starts the process; resolves once it logs
 * that it is serving.
 *
 * @example
 * const te = await spawnTokenExchange(env, { policies: { 'share.yaml': delegationPolicy('share', [meshIds.share], ['*'], ['todos']) } });
 * t.teardown(() => te.stop());
 */
export async function spawnTokenExchange(env: Environment, options: TokenExchangeProcessOptions = {}): Promise<TokenExchangeProcess> {
  const base = await mkdtemp(path.join(env.dir, 'process-'));
  const signingKey = options.signingKey ?? (await generateTestKey('ES256', 'k1'));
  const keysDir = path.join(base, 'keys');
  const policiesDir = path.join(base, 'policies');
  await Promise.all([mkdir(keysDir), mkdir(policiesDir)]);
  await writeFile(path.join(keysDir, `${signingKey.kid}.pem`), await exportPKCS8(signingKey.privateKey));
  for (const [name, text] of Object.entries(options.policies ?? {})) await writeFile(path.join(policiesDir, name), text);

  const [httpsPort, grpcPort] = [await freePort(), await freePort()];
  const issuer = `https://127.0.0.1:${httpsPort}`;
  const jwksUri = `${issuer}/.well-known/jwks.json`;
  const configFile = path.join(base, 'token-exchange.yaml');
  await writeFile(
    configFile,
    [
      `listen: { host: 127.0.0.1, httpsPort: ${httpsPort}, grpcPort: ${grpcPort} }`,
      `tls: { certFile: ${env.dir}/server.crt, keyFile: ${env.dir}/server.key, clientCaFile: ${env.dir}/ca.crt }`,
      `issuer: ${issuer}`,
      `signing: { keysDir: ${keysDir}, activeKid: "${signingKey.kid}" }`,
      'subjectIssuers:',
      `  - { issuer: "${env.idp.url}", jwksUri: "${env.idp.jwksUri}", audiences: [share] }`,
      ...(options.subjectIssuers ? [options.subjectIssuers({ issuer, jwksUri })] : []),
      `delegation: { paths: [${policiesDir}] }`,
      'log: { level: info }',
      options.extra ?? '',
    ].join('\n'),
  );

  const [command, ...args] = [...(options.launcher ?? []), process.execPath, ...(options.nodeFlags ?? []), CLI];
  const child = spawn(command, [...args, 'token-exchange', 'serve', '--config', configFile], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(env.dir, 'ca.crt') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  // Every exchange is logged: keep the latest 64 KiB, not a benchmark's worth of lines.
  const keep = (more: string): void => {
    text = (text + more).slice(-65_536);
  };
  child.stderr.on('data', (chunk: Buffer) => keep(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`token exchange did not start:\n${text}`));
    }, 15_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      keep(`${line}\n`);
      if (!line.includes('"token exchange serving"')) return;
      clearTimeout(timer);
      // From here on the output is only kept, not parsed line by line.
      lines.close();
      child.stdout.on('data', (chunk: Buffer) => keep(chunk.toString())).resume();
      resolve();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`token exchange exited with ${code} before serving:\n${text}`));
    });
  });

  return {
    process: child,
    issuer,
    tokenUrl: `${issuer}/token`,
    jwksUri,
    httpsPort,
    grpcPort,
    signingKey,
    output: () => text,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
