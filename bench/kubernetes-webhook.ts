/**
 * The Kubernetes webhook: SubjectAccessReviews and TokenReviews per second on
 * one core, over HTTPS keep-alive with kube-apiserver's client certificate,
 * as the apiserver calls it. `gatehouse kubernetes-webhook serve` runs pinned
 * to one core with the todo example's KubernetesAccessPolicies; the HTTPS
 * load client (bench/exchange-load.ts) on the other core. Baseline: the null
 * HTTPS server with the same TLS set-up, answering a fixed body.
 *
 * - SubjectAccessReview: four documented-shape v1 reviews in turn (an allow,
 *   an explicit deny, an allow for a service account, no opinion).
 * - TokenReview, warm cache: distinct users' ES256 tokens, each verified once
 *   before the measured run, so every measured review is an in-process hit.
 */
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createWebhookEnvironment,
  sarBody,
  tokenReviewBody,
  userToken,
  webhookYaml,
  type WebhookEnvironment,
} from '../test/helpers/kubernetes-webhook.js';
import type { ExchangeLoadResult } from './exchange-load.js';
import { checkedLoad, runHttpsLoad, startNullHttpsServer } from './https-load.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer, type ServerProcess } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize } from './stats.js';

export interface KubernetesWebhookOptions {
  readonly repetitions: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Distinct users' tokens for the TokenReview scenario. */
  readonly users: number;
  readonly connections: number;
  readonly concurrency: number;
}

export const KUBERNETES_WEBHOOK_DEFAULTS: KubernetesWebhookOptions = {
  repetitions: 3,
  warmupSeconds: 1,
  durationSeconds: 3,
  users: 500,
  connections: 4,
  concurrency: 32,
};

const EXAMPLE_POLICIES = fileURLToPath(new URL('../../deploy/examples/todo/policies/kubernetes-access.yaml', import.meta.url));

type Row = 'sar' | 'token-review' | 'null';

/** The measured SubjectAccessReviews and the answer each must get. */
const REVIEWS: readonly { spec: Record<string, unknown>; expect: 'allowed' | 'denied' | 'no opinion' }[] = [
  {
    spec: {
      user: 'oidc:alice',
      groups: ['todo-devs'],
      resourceAttributes: { namespace: 'default', verb: 'list', group: '', resource: 'pods' },
    },
    expect: 'allowed',
  },
  {
    spec: {
      user: 'oidc:bob',
      groups: ['todo-devs'],
      resourceAttributes: { namespace: 'default', verb: 'get', group: '', resource: 'secrets', name: 'db' },
    },
    expect: 'denied',
  },
  {
    spec: {
      user: 'system:serviceaccount:default:reminder',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:default'],
      resourceAttributes: { namespace: 'default', verb: 'get', group: '', resource: 'configmaps', name: 'reminder-config' },
    },
    expect: 'allowed',
  },
  {
    spec: {
      user: 'oidc:carol',
      groups: ['other'],
      resourceAttributes: { namespace: 'kube-system', verb: 'list', group: 'apps', resource: 'deployments' },
    },
    expect: 'no opinion',
  },
];

export async function runKubernetesWebhook(options: KubernetesWebhookOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const cores = cpuPlan();
  const env = await createWebhookEnvironment();
  try {
    const files = await writeFixture(env, options);
    const rates: Record<Row, number[]> = { sar: [], 'token-review': [], null: [] };
    for (let repetition = 0; repetition < options.repetitions; repetition++) {
      const baseline = await startNullHttpsServer(env.dir, cores.server);
      try {
        rates.null.push(
          checkedLoad(await load(options, files, `https://127.0.0.1:${baseline.port}/authorize`, files.sars, cores.load), 'null').rate,
        );
      } finally {
        await baseline.stop();
      }
      const webhook = await startWebhookProcess(files.config, files.httpsPort, files.ca, cores.server);
      try {
        const base = `https://127.0.0.1:${files.httpsPort}`;
        await probeReviews(files, base);
        rates.sar.push(checkedLoad(await load(options, files, `${base}/authorize`, files.sars, cores.load), 'SubjectAccessReview').rate);
        // Warm: every user's token verified once, then the measured run is all cache hits.
        await warmTokens(files, base, files.tokenBodies);
        rates['token-review'].push(
          checkedLoad(await load(options, files, `${base}/authenticate`, files.tokenReviews, cores.load), 'TokenReview').rate,
        );
      } finally {
        await webhook.stop();
      }
      log(
        `kubernetes-webhook #${repetition + 1}: SAR ${formatNumber(rates.sar.at(-1) ?? 0)}/s, TokenReview ${formatNumber(rates['token-review'].at(-1) ?? 0)}/s, null ${formatNumber(rates.null.at(-1) ?? 0)}/s`,
      );
    }
    const summaries = { sar: summarize(rates.sar), 'token-review': summarize(rates['token-review']), null: summarize(rates.null) };
    const ratio = (row: Row) => formatRatio(summaries[row].median / summaries.null.median);
    const markdown = [
      table(
        ['review', 'reviews/s on one core: median (min–max)', 'ratio to the null HTTPS server'],
        [
          ['SubjectAccessReview (v1; allow, deny, service-account allow, no opinion in turn)', formatSummary(summaries.sar), ratio('sar')],
          [
            `TokenReview (v1), warm cache: ${formatNumber(options.users)} users' ES256 tokens`,
            formatSummary(summaries['token-review']),
            ratio('token-review'),
          ],
          ['null HTTPS server (same TLS, fixed answer)', formatSummary(summaries.null), '1.00×'],
        ],
      ),
      '',
      `- \`gatehouse kubernetes-webhook serve\` (log level warn) with the todo example's KubernetesAccessPolicies (deploy/examples/todo/policies/kubernetes-access.yaml) and one JWT authenticator (the local identity provider, username \`oidc:<sub>\`, groups from \`groups\`), ${cores.note}.`,
      `- Load: bench/exchange-load.ts posting the reviews as JSON over ${options.connections} keep-alive HTTPS connections with kube-apiserver's client certificate, ${options.concurrency} requests in flight, ${options.durationSeconds} s after ${options.warmupSeconds} s of warm-up; only 200 answers count and any other answer fails the run. Before timing, each SubjectAccessReview is sent once and its answer checked (allowed / denied / no opinion as the policies say), and every TokenReview token is reviewed once and must authenticate.`,
      `- ${options.repetitions} runs per row, the null server first in each round, a fresh webhook process per round.`,
    ].join('\n');
    return { name: 'kubernetes-webhook', title: 'Kubernetes webhook', targets: [], markdown };
  } finally {
    await env.close();
  }
}

interface Fixture {
  readonly config: string;
  readonly httpsPort: number;
  readonly sars: string;
  readonly tokenReviews: string;
  readonly tokenBodies: readonly string[];
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

async function writeFixture(env: WebhookEnvironment, options: KubernetesWebhookOptions): Promise<Fixture> {
  const dir = path.join(env.dir, 'bench');
  const policiesDir = path.join(dir, 'policies');
  await mkdir(policiesDir, { recursive: true });
  await copyFile(EXAMPLE_POLICIES, path.join(policiesDir, 'kubernetes-access.yaml'));
  const [httpsPort, grpcPort] = [await freePort(), await freePort()];
  const config = path.join(dir, 'kubernetes-webhook.yaml');
  await writeFile(config, webhookYaml(env, { httpsPort, grpcPort, policiesDir, logLevel: 'warn' }));
  const cert = path.join(dir, 'apiserver.crt');
  const key = path.join(dir, 'apiserver.key');
  await Promise.all([writeFile(cert, env.apiserver.certPem), writeFile(key, env.apiserver.keyPem)]);
  const sars = path.join(dir, 'sars.jsonl');
  await writeFile(sars, `${REVIEWS.map((review) => sarBody('v1', review.spec)).join('\n')}\n`);
  const tokenBodies: string[] = [];
  for (let user = 0; user < options.users; user++) {
    tokenBodies.push(tokenReviewBody('v1', { token: await userToken(env, { sub: `user-${user}` }) }));
  }
  const tokenReviews = path.join(dir, 'token-reviews.jsonl');
  await writeFile(tokenReviews, `${tokenBodies.join('\n')}\n`);
  return { config, httpsPort, sars, tokenReviews, tokenBodies, cert, key, ca: path.join(env.dir, 'ca.crt') };
}

async function startWebhookProcess(config: string, httpsPort: number, ca: string, core: number | undefined): Promise<ServerProcess> {
  const server = spawnServer({ script: GATEHOUSE_CLI, args: ['kubernetes-webhook', 'serve', '--config', config], core, port: httpsPort });
  // At log level warn it says nothing when it is up: ask its readiness path.
  const giveUp = Date.now() + 15_000;
  while (!(await ready(httpsPort, ca))) {
    if (Date.now() > giveUp || server.child.exitCode !== null) {
      await server.stop();
      throw new Error(`the webhook did not become ready:\n${server.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return server;
}

function ready(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const call = request({ host: '127.0.0.1', port, path: '/readyz', ca: readFileSync(ca), agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    call.on('error', () => resolve(false));
    call.end();
  });
}

/** One POST with kube-apiserver's certificate; the parsed JSON answer. */
function post(files: Fixture, url: string, body: string, agent: Agent): Promise<{ status: number; answer: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const call = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, answer: JSON.parse(text) as Record<string, unknown> }));
    });
    call.on('error', reject);
    call.end(body);
  });
}

function clientAgent(files: Fixture): Agent {
  return new Agent({
    keepAlive: true,
    maxSockets: 4,
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ca: readFileSync(files.ca),
  });
}

async function probeReviews(files: Fixture, base: string): Promise<void> {
  const agent = clientAgent(files);
  try {
    for (const review of REVIEWS) {
      const { status, answer } = await post(files, `${base}/authorize`, sarBody('v1', review.spec), agent);
      const verdict = answer.status as { allowed?: boolean; denied?: boolean } | undefined;
      const got = verdict?.allowed ? 'allowed' : verdict?.denied ? 'denied' : 'no opinion';
      if (status !== 200 || got !== review.expect)
        throw new Error(
          `SubjectAccessReview ${JSON.stringify(review.spec)}: expected ${review.expect}, got ${status} ${JSON.stringify(answer)}`,
        );
    }
  } finally {
    agent.destroy();
  }
}

async function warmTokens(files: Fixture, base: string, bodies: readonly string[]): Promise<void> {
  const agent = clientAgent(files);
  try {
    for (const body of bodies) {
      const { status, answer } = await post(files, `${base}/authenticate`, body, agent);
      const verdict = answer.status as { authenticated?: boolean; error?: string } | undefined;
      if (status !== 200 || verdict?.authenticated !== true)
        throw new Error(`TokenReview: expected authenticated, got ${status} ${JSON.stringify(verdict)}`);
    }
  } finally {
    agent.destroy();
  }
}

function load(
  options: KubernetesWebhookOptions,
  files: Fixture,
  url: string,
  bodiesFile: string,
  core: number | undefined,
): Promise<ExchangeLoadResult> {
  return runHttpsLoad(
    {
      url,
      bodiesFile,
      certFile: files.cert,
      keyFile: files.key,
      caFile: files.ca,
      connections: options.connections,
      concurrency: options.concurrency,
      warmupSeconds: options.warmupSeconds,
      durationSeconds: options.durationSeconds,
      cycle: true,
      contentType: 'application/json',
    },
    core,
  );
}
