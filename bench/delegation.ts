/**
 * Delegation (RFC 8693): what an actor chain costs the gateway, and how many
 * token exchanges one core mints.
 *
 * - Check cost: the fixed CheckRequest (reminder → todos, GET /todos/123)
 *   carrying Bob's ES256 token, plain or with `act: { sub: <reminder> }`,
 *   against one configuration (RequestAuthentication, an ALLOW policy
 *   requiring a request principal, a DelegationPolicy permitting the
 *   reminder service for the IdP's users). In process, like rule-scaling:
 *   `Authorizer.check` with the real TokenAuthenticator, both tokens L1 hits,
 *   variants interleaved. Then over the wire: `gatehouse serve` pinned to
 *   one core, h2load with each variant's fixed body, alternating.
 * - Exchanges per second: `gatehouse token-exchange serve` pinned to one
 *   core, a keep-alive HTTPS client with the share service's certificate on
 *   the other; distinct subject tokens (every exchange signs) and one subject
 *   token (the minted-token cache answers), for ES256 and EdDSA signing keys;
 *   against a null HTTPS server with the same TLS set-up.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';
import { Authorizer } from '../gateway/authorizer.js';
import { loadConfig } from '../gateway/config/load.js';
import type { RawCheckRequest } from '../gateway/envoy/check-request.js';
import { loadPackageDefinition } from '../gateway/envoy/descriptors.js';
import { TokenAuthenticator } from '../gateway/identity/token-authenticator.js';
import { createLogger } from '../gateway/log.js';
import { PolicyStore, policyStoreOptions } from '../gateway/policy/watch.js';
import { openSharedState } from '../gateway/shared-state.js';
import { meshIds } from '../test/helpers/certs.js';
import { startJwksServer } from '../test/helpers/jwks-server.js';
import { ACCESS_TOKEN_TYPE, createEnvironment, delegationPolicy, GRANT } from '../test/helpers/token-exchange.js';
import { spawnTokenExchange } from '../test/helpers/token-exchange-process.js';
import { epochSeconds, generateTestKey, signToken } from '../test/helpers/tokens.js';
import { connectCheckClient, describeResponse, firstAnswer } from './check-client.js';
import { checkedLoad, runHttpsLoad, startNullHttpsServer } from './https-load.js';
import type { ExchangeLoadResult } from './exchange-load.js';
import { AUTHORIZATION_SERVICE, CHECK_PATH, SOURCE_PRINCIPAL, grpcFrame } from './fixed-request.js';
import { writeGatehouseFixture } from './gatehouse-fixture.js';
import { h2loadAvailable, runH2load } from './h2load.js';
import { EXPECTED_JWT_POLICY, encodeTokenCheckRequest, tokenPolicies } from './jwt-fixture.js';
import { generateSigningKey, jwksOf, signJwt, userClaims } from './jwt-tokens.js';
import { GATEHOUSE_CLI, cpuPlan, freePort, spawnServer } from './processes.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize, type Summary } from './stats.js';

export interface DelegationOptions {
  /** In-process rounds; each times `iterations` Checks per variant. */
  readonly rounds: number;
  readonly iterations: number;
  /** h2load runs per variant. */
  readonly wireRepetitions: number;
  /** Exchange runs per scenario. */
  readonly exchangeRepetitions: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** h2load: connections and streams in flight in all. */
  readonly channels: number;
  readonly concurrency: number;
  /** The exchange load client: keep-alive connections, requests in flight. */
  readonly exchangeConnections: number;
  readonly exchangeConcurrency: number;
  /** Distinct subject tokens for the cache-defeated scenario: more than one run sends. */
  readonly missTokens: number;
}

export const DELEGATION_DEFAULTS: DelegationOptions = {
  rounds: 9,
  iterations: 20_000,
  wireRepetitions: 3,
  exchangeRepetitions: 3,
  warmupSeconds: 1,
  durationSeconds: 3,
  channels: 4,
  concurrency: 64,
  exchangeConnections: 16,
  exchangeConcurrency: 64,
  missTokens: 40_000,
};

const TARGET_RATIO = 1.1;

type Variant = 'plain' | 'delegated';
const VARIANTS: readonly Variant[] = ['plain', 'delegated'];

export async function runDelegation(options: DelegationOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const check = await runCheckCost(options, log);
  const exchange = await runExchangeRate(options, log);
  return {
    name: 'delegation',
    title: 'Delegation',
    targets: [
      {
        target: `a Check with a delegation chain ≤ ${TARGET_RATIO}× a plain JWT Check (in process, L1 hits)`,
        result: `${formatRatio(check.ratio)} (wire: ${check.wireRatio === undefined ? 'not run' : formatRatio(check.wireRatio)} the plain rate)`,
        met: check.ratio <= TARGET_RATIO,
      },
    ],
    markdown: [check.markdown, '', exchange.markdown].join('\n'),
  };
}

// --- The cost of a Check with a chain ---------------------------------------------------------

interface CheckCost {
  readonly ratio: number;
  readonly wireRatio?: number;
  readonly markdown: string;
}

/** The gateway's documents: the JWT policies of the token benchmarks plus a DelegationPolicy for the fixed request's caller. */
function delegationPolicies(idpUrl: string): { name: string; text: string } {
  return {
    name: 'delegation.yaml',
    text: `apiVersion: gatehouse.dev/v1alpha1
kind: DelegationPolicy
metadata: { name: reminder-for-users, namespace: default }
spec:
  selector: { matchLabels: { app: todos } }
  rules:
    - actors: ["${SOURCE_PRINCIPAL}"]
      subjects: ["${idpUrl}/*"]
      audiences: [todos]
      to: [{ operation: { methods: [GET], paths: ["/todos/*"] } }]
      maxDepth: 1
`,
  };
}

const GATEHOUSE_CONFIG = [
  'listen: { host: 127.0.0.1, port: 9191 }',
  'policies: { paths: [./policies], rootNamespace: istio-system, defaultNamespace: default, watch: false }',
  'identity: { trustDomains: [cluster.local] }',
  'workloads:',
  '  - { namespace: default, serviceAccount: todos, labels: { app: todos }, service: todos }',
  '  - { namespace: default, serviceAccount: reminder, labels: { app: reminder }, service: reminder }',
  'jwt: { jwks: { refreshIntervalSeconds: 3600 } }',
  'log: { level: warn }',
  '',
].join('\n');

function decodeCheck(bytes: Buffer): RawCheckRequest {
  const service = loadPackageDefinition()[AUTHORIZATION_SERVICE] as protoLoader.ServiceDefinition;
  return (service.Check as protoLoader.MethodDefinition<object, object>).requestDeserialize(bytes);
}

async function runCheckCost(options: DelegationOptions, log: (line: string) => void): Promise<CheckCost> {
  const key = generateSigningKey('ES256');
  const idp = await startJwksServer(jwksOf([key]));
  try {
    const claims = userClaims(idp.url, 1, 24 * 3600);
    const tokens: Record<Variant, string> = {
      plain: signJwt(claims, key),
      delegated: signJwt({ ...claims, act: { sub: SOURCE_PRINCIPAL } }, key),
    };
    const bodies = { plain: encodeTokenCheckRequest(tokens.plain), delegated: encodeTokenCheckRequest(tokens.delegated) };
    const configFile = await writeGatehouseFixture(GATEHOUSE_CONFIG, [...tokenPolicies(idp), delegationPolicies(idp.url)]);

    // In process: the server's wiring (gateway/cli/serve.ts) without the gRPC server.
    const config = await loadConfig(configFile, {});
    const silent = createLogger('silent');
    const policies = await PolicyStore.open(config.policies.paths, policyStoreOptions(config), silent);
    const shared = await openSharedState(config, {}, silent);
    await shared.keys.prefetch(policies.currentAuthentication().issuers);
    const authenticator = new TokenAuthenticator({
      rules: policies,
      keys: shared.keys,
      cache: shared.cache,
      maxTokenBytes: config.jwt.maxTokenBytes,
      delegation: policies,
    });
    const authorizer = new Authorizer(config, policies, authenticator);
    const raws = { plain: decodeCheck(bodies.plain), delegated: decodeCheck(bodies.delegated) };

    // Both must be allows by the same policy; the delegated one must have gone through the chain check.
    for (const variant of VARIANTS) {
      const outcome = await authorizer.check(raws[variant]);
      if (!outcome.decision.allowed || outcome.decision.policy !== EXPECTED_JWT_POLICY)
        throw new Error(
          `${variant}: expected an allow by ${EXPECTED_JWT_POLICY}, got ${outcome.decision.code} (${outcome.decision.reason})`,
        );
      const actors = outcome.input?.auth?.delegation?.actors.join(',');
      if ((variant === 'delegated') !== (actors === SOURCE_PRINCIPAL)) throw new Error(`${variant}: unexpected actor chain ${actors}`);
    }

    const time = async (variant: Variant, iterations: number): Promise<number> => {
      const raw = raws[variant];
      let allowed = 0;
      const start = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) if ((await authorizer.check(raw)).decision.allowed) allowed++;
      const ns = Number(process.hrtime.bigint() - start) / iterations;
      if (allowed !== iterations) throw new Error(`${variant}: ${iterations - allowed} Checks were not allows`);
      return ns;
    };
    for (const variant of VARIANTS) await time(variant, options.iterations);
    const ns: Record<Variant, number[]> = { plain: [], delegated: [] };
    const roundRatios: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which variant goes first.
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) ns[variant].push(await time(variant, options.iterations));
      roundRatios.push((ns.delegated[round] as number) / (ns.plain[round] as number));
      log(`delegation: in-process round ${round + 1}/${options.rounds} done`);
    }
    await shared.close();
    policies.close();

    const summaries = { plain: summarize(ns.plain), delegated: summarize(ns.delegated) };
    const ratio = summaries.delegated.median / summaries.plain.median;
    const ratioSummary = summarize(roundRatios);

    const wire = await runWire(options, configFile, bodies, log);
    const wireRatio = wire ? wire.delegated.median / wire.plain.median : undefined;

    const rows = VARIANTS.map((variant) => [
      variant === 'plain' ? 'plain JWT (ES256)' : 'the same token with `act: { sub: <caller> }`',
      `${formatNumber(tokens[variant].length)} chars`,
      formatSummary(summaries[variant]),
      variant === 'plain' ? '1.00×' : `${formatRatio(ratio)} (rounds: ${formatRatio(ratioSummary.min)}–${formatRatio(ratioSummary.max)})`,
      wire ? formatSummary(wire[variant]) : 'not run',
      wire && wireRatio !== undefined ? (variant === 'plain' ? '1.00×' : formatRatio(wireRatio)) : '',
    ]);
    const markdown = [
      '### The cost of a Check with a delegation chain',
      '',
      table(
        [
          'token',
          'size',
          'Authorizer.check ns/Check: median (min–max)',
          'ratio to plain',
          'over the wire, Checks/s: median (min–max)',
          'ratio to plain',
        ],
        rows,
      ),
      '',
      "- One configuration for both: the token benchmarks' RequestAuthentication and ALLOW policy (`default/todos-users`, a request principal from the IdP, GET /todos/*) plus a DelegationPolicy letting the fixed request's caller (the reminder service) act for the IdP's users toward `todos`, GET /todos/*, depth 1. The two tokens have the same ten claims; the delegated one adds `act`. Both Checks are allows by `default/todos-users`; the delegated outcome carries the chain `[reminder]`, and over the wire its answer the `x-gatehouse-actors` header (checked before timing).",
      `- In process: \`gateway/cli/serve.ts\`'s wiring without the gRPC server (PolicyStore, shared state without Redis, TokenAuthenticator, Authorizer); the request is serialized and decoded by proto-loader as in rule-scaling. Both tokens are verified once before timing, so every timed Check is an L1 hit. ${options.rounds} rounds of ${formatNumber(options.iterations)} Checks per variant, the first variant alternating, after one warm-up pass; the range in "ratio" is the per-round ratios'.`,
      wire
        ? `- Over the wire: one \`gatehouse serve\` (h2c) ${wire.cores}; h2load -c ${options.channels} -m ${options.concurrency / options.channels} with each variant's fixed body, ${options.durationSeconds} s after ${options.warmupSeconds} s of warm-up, ${options.wireRepetitions} runs per variant alternating against the same process.`
        : '- Over the wire: not run (h2load not found).',
    ].join('\n');
    return { ratio, ...(wireRatio === undefined ? {} : { wireRatio }), markdown };
  } finally {
    await idp.close();
  }
}

interface WireResult extends Record<Variant, Summary> {
  readonly cores: string;
}

async function runWire(
  options: DelegationOptions,
  configFile: string,
  bodies: Record<Variant, Buffer>,
  log: (line: string) => void,
): Promise<WireResult | undefined> {
  if (!h2loadAvailable()) return undefined;
  const cores = cpuPlan();
  const files = {} as Record<Variant, string>;
  for (const variant of VARIANTS) {
    files[variant] = path.join(path.dirname(configFile), `${variant}.bin`);
    await writeFile(files[variant], grpcFrame(bodies[variant]));
  }
  const server = spawnServer({
    script: GATEHOUSE_CLI,
    args: ['serve', '--config', configFile],
    core: cores.server,
    port: await freePort(),
  });
  const client = connectCheckClient(server.port);
  try {
    for (const variant of VARIANTS) {
      const response = await firstAnswer(client, bodies[variant]);
      const answer = describeResponse(response);
      if (!answer.allowed || answer.policy !== EXPECTED_JWT_POLICY)
        throw new Error(`wire ${variant}: expected an allow by ${EXPECTED_JWT_POLICY}, got status ${answer.code}\n${server.output()}`);
      const headers = (response.ok_response as { headers?: { header: { key: string; value: string } }[] }).headers ?? [];
      const actors = headers.find(({ header }) => header.key === 'x-gatehouse-actors')?.header.value;
      if ((variant === 'delegated') !== (actors === SOURCE_PRINCIPAL)) throw new Error(`wire ${variant}: x-gatehouse-actors is ${actors}`);
    }
    const rates: Record<Variant, number[]> = { plain: [], delegated: [] };
    for (let run = 0; run < options.wireRepetitions; run++) {
      for (const variant of run % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const result = await runH2load({
          port: server.port,
          path: CHECK_PATH,
          bodyFile: files[variant],
          clients: options.channels,
          streams: options.concurrency / options.channels,
          durationSeconds: options.durationSeconds,
          warmupSeconds: options.warmupSeconds,
          core: cores.load,
        });
        rates[variant].push(result.requestsPerSecond);
        log(`delegation: wire ${variant} ${run + 1}/${options.wireRepetitions}: ${formatNumber(result.requestsPerSecond)} Checks/s`);
      }
    }
    return { plain: summarize(rates.plain), delegated: summarize(rates.delegated), cores: cores.note };
  } finally {
    client.close();
    await server.stop();
  }
}

// --- Token exchanges per second per core -------------------------------------------------------

type Scenario = 'distinct subject tokens' | 'one subject token (cache hit)';

async function runExchangeRate(options: DelegationOptions, log: (line: string) => void): Promise<{ markdown: string }> {
  const env = await createEnvironment();
  try {
    const cores = cpuPlan();
    const files = {
      cert: path.join(env.dir, 'share.crt'),
      key: path.join(env.dir, 'share.key'),
      ca: path.join(env.dir, 'ca.crt'),
      distinct: path.join(env.dir, 'distinct.txt'),
      one: path.join(env.dir, 'one.txt'),
    };
    await Promise.all([writeFile(files.cert, env.pki.share.certPem), writeFile(files.key, env.pki.share.keyPem)]);
    const form = (subjectToken: string): string =>
      new URLSearchParams({
        grant_type: GRANT,
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: 'todos',
        scope: 'todos:read',
      }).toString();
    // Users' ES256 tokens from the IdP, each its own: the minted-token cache keys on the subject token's hash.
    const now = epochSeconds();
    const subject = (n: number) =>
      signToken(
        { iss: env.idp.url, sub: `user-${n}`, aud: 'share', scope: 'todos:read todos:write', jti: `t-${n}`, iat: now, exp: now + 3600 },
        env.idpKey,
      );
    const distinct: string[] = [];
    for (let n = 0; n < options.missTokens; n++) distinct.push(form(await subject(n)));
    await writeFile(files.distinct, `${distinct.join('\n')}\n`);
    await writeFile(files.one, `${form(await subject(-1))}\n`);

    const launcher = cores.server === undefined ? [] : ['/usr/bin/taskset', '-c', String(cores.server)];
    const signingKeys = { ES256: await generateTestKey('ES256', 'es'), EdDSA: await generateTestKey('EdDSA', 'ed') };
    const scenarios: Scenario[] = ['distinct subject tokens', 'one subject token (cache hit)'];
    const rates = new Map<string, number[]>();
    const push = (name: string, rate: number) => rates.set(name, [...(rates.get(name) ?? []), rate]);

    const load = (url: string, scenario: Scenario | 'baseline'): Promise<ExchangeLoadResult> =>
      runHttpsLoad(
        {
          url,
          bodiesFile: scenario === 'distinct subject tokens' ? files.distinct : files.one,
          certFile: files.cert,
          keyFile: files.key,
          caFile: files.ca,
          connections: options.exchangeConnections,
          concurrency: options.exchangeConcurrency,
          warmupSeconds: options.warmupSeconds,
          durationSeconds: options.durationSeconds,
          cycle: scenario !== 'distinct subject tokens',
        },
        cores.load,
      );

    for (let run = 0; run < options.exchangeRepetitions; run++) {
      const baseline = await startNullHttpsServer(env.dir, cores.server);
      try {
        const result = checkedLoad(await load(`https://127.0.0.1:${baseline.port}/token`, 'baseline'), 'null HTTPS server');
        push('baseline', result.rate);
      } finally {
        await baseline.stop();
      }
      for (const alg of ['ES256', 'EdDSA'] as const) {
        for (const scenario of scenarios) {
          // A fresh process per run: the minted-token cache starts empty, and distinct tokens stay distinct.
          const te = await spawnTokenExchange(env, {
            policies: { 'share.yaml': delegationPolicy('share-for-users', [meshIds.share], [`${env.idp.url}/*`], ['todos']) },
            signingKey: signingKeys[alg],
            launcher,
          });
          try {
            const result = checkedLoad(await load(te.tokenUrl, scenario), `${alg}, ${scenario}`);
            push(`${alg}|${scenario}`, result.rate);
            log(`delegation: exchange ${alg}, ${scenario}, run ${run + 1}: ${formatNumber(result.rate)}/s`);
          } finally {
            await te.stop();
          }
        }
      }
    }

    const baseline = summarize(rates.get('baseline') ?? []);
    const rows = (['ES256', 'EdDSA'] as const).flatMap((alg) =>
      scenarios.map((scenario) => {
        const summary = summarize(rates.get(`${alg}|${scenario}`) ?? []);
        return [alg, scenario, formatSummary(summary), formatRatio(summary.median / baseline.median)];
      }),
    );
    const markdown = [
      '### Token exchanges per second, one core',
      '',
      table(
        ['signing', 'subject tokens', 'exchanges/s: median (min–max)', 'ratio to the null HTTPS server'],
        [...rows, ['–', 'null HTTPS server (same TLS, fixed answer)', formatSummary(baseline), '1.00×']],
      ),
      '',
      `- \`gatehouse token-exchange serve\` (log level info: every exchange is logged to a pipe), ${cores.note}. The load client (bench/exchange-load.ts) posts RFC 8693 forms over ${options.exchangeConnections} keep-alive HTTPS connections with the share service's client certificate (mTLS, its SPIFFE ID is the actor), ${options.exchangeConcurrency} requests in flight, ${options.durationSeconds} s measured after ${options.warmupSeconds} s of warm-up; only 200 answers count, and any other answer fails the run.`,
      `- Every exchange verifies the subject token (ES256, the IdP's key from its JWKS server), checks the DelegationPolicy and the scopes. "Distinct subject tokens": each request a different user's token (${formatNumber(options.missTokens)} pre-signed, each sent once, a fresh service process per run), so every exchange signs a new token. "One subject token": the same request every time, answered from the minted-token cache after the first (no signing).`,
      `- The null HTTPS server (bench/null-https-server.ts) has the same certificate, requests and verifies client certificates, reads the body and answers a fixed token response of the same size: the ceiling the transport and the load client allow. ${options.exchangeRepetitions} runs per row, rows interleaved, a fresh process per run.`,
    ].join('\n');
    return { markdown };
  } finally {
    await env.close();
  }
}
