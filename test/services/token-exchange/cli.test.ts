/**
 * `gatehouse token-exchange serve` as it ships (the bundled CLI): it serves,
 * and SIGTERM stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { CLI } from '../../helpers/gatehouse.js';
import { freePort } from '../../helpers/redis.js';
import { createEnvironment, getJson, writeSigningKey } from '../../helpers/token-exchange.js';

test('serve, answer discovery, exit 0 on SIGTERM', async (t) => {
  const env = await createEnvironment();
  t.teardown(() => env.close());
  const [httpsPort, grpcPort] = [await freePort(), await freePort()];
  await writeSigningKey(path.join(env.dir, 'keys'), 'k1', 'ES256');
  const configFile = path.join(env.dir, 'token-exchange.yaml');
  await writeFile(
    configFile,
    [
      `listen: { host: 127.0.0.1, httpsPort: ${httpsPort}, grpcPort: ${grpcPort} }`,
      'tls: { certFile: server.crt, keyFile: server.key, clientCaFile: ca.crt }',
      `issuer: https://127.0.0.1:${httpsPort}`,
      'signing: { keysDir: keys, activeKid: k1 }',
      `subjectIssuers: [{ issuer: "${env.idp.url}", jwksUri: "${env.idp.jwksUri}" }]`,
      'drainSeconds: 2',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [CLI, 'token-exchange', 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const serving = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry['msg'] === 'token exchange serving') resolve(entry);
    });
    void exited.then((code) => reject(new Error(`exited with ${code}`)));
  });
  const started = await serving;
  t.like(started, { httpsPort, grpcPort, activeKid: 'k1', redis: false });

  const discovery = await getJson(env, `https://127.0.0.1:${httpsPort}/.well-known/openid-configuration`);
  t.is(discovery.body['issuer'], `https://127.0.0.1:${httpsPort}`);
  child.kill('SIGTERM');
  t.is(await exited, 0);
});

test('serve without --config is a usage error', async (t) => {
  const child = spawn(process.execPath, [CLI, 'token-exchange', 'serve'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 2);
  t.regex(stderr, /needs --config/);
});
