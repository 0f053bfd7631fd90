/**
 * The gateway's metrics (names and labels: docs/telemetry.md), as
 * observable instruments over the counters the gateway keeps anyway
 * (`stats()` of the server, the policy store, the token cache, the key sets,
 * Redis): nothing is counted twice, and nothing is read until a reader
 * collects. Labels stay bounded: codes, policy names, tiers, issuers; never
 * principals or paths. The Check histograms come through
 * histogram-producer.ts. Loaded with the SDK.
 */
import { ValueType, type Attributes, type BatchObservableResult, type Meter, type Observable } from '@opentelemetry/api';
import type { RedisStoreStats } from '../cache/redis.js';
import type { TokenCacheStats } from '../cache/token-cache.js';
import type { JwksSourceStats } from '../identity/jwks.js';
import type { PolicyStoreStats } from '../policy/watch.js';
import type { ServerStats } from '../server.js';
import type { CheckCounters } from './check-counters.js';
import type { ExportedHistogram } from './histogram-producer.js';

/** What the token cache, the key sets and Redis report; each optional, since not every service has each. */
export interface SharedStateMetricSources {
  readonly tokenCache?: () => TokenCacheStats;
  readonly jwks?: () => readonly JwksSourceStats[];
  /** Absent without Redis. */
  readonly redis?: () => RedisStoreStats;
  /** Whether Redis answers commands and the revocation feed is live. */
  readonly redisConnected?: () => boolean;
}

export interface GatewayMetricSources extends SharedStateMetricSources {
  readonly checks: CheckCounters;
  readonly server: () => ServerStats;
  readonly policies: () => PolicyStoreStats;
}

/**
 * @example
 * registerGatewayMetrics(sdk.meter, { checks, server: () => server.stats(), policies: () => store.stats(), tokenCache: () => cache.stats() });
 */
export function registerGatewayMetrics(meter: Meter, sources: GatewayMetricSources): void {
  const decisions = meter.createObservableCounter('gatehouse.decisions', {
    description: 'Checks answered, by result (allow, deny), decision code and deciding policy ("" when no policy decided)',
    valueType: ValueType.INT,
  });
  const reloads = meter.createObservableCounter('gatehouse.policy.reloads', {
    description: 'Policy sets loaded after a change of the policy files',
    valueType: ValueType.INT,
  });
  const rejections = meter.createObservableCounter('gatehouse.policy.rejections', {
    description: 'Changed policy sets rejected as invalid (the last good set kept serving)',
    valueType: ValueType.INT,
  });
  const shadowEvaluations = meter.createObservableCounter('gatehouse.shadow.evaluations', {
    description: 'Checks for which shadow policies were evaluated',
    valueType: ValueType.INT,
  });
  const shadowDivergences = meter.createObservableCounter('gatehouse.shadow.divergences', {
    description: 'Checks whose outcome a shadow policy would have changed, by shadow policy',
    valueType: ValueType.INT,
  });
  const decisionLog = meter.createObservableCounter('gatehouse.decision_log.records', {
    description: 'Decisions by what the decision log did with them: written, or sampled_out',
    valueType: ValueType.INT,
  });
  meter.addBatchObservableCallback(
    (result) => {
      for (const { allowed, code, policy, count } of sources.checks.decisions()) {
        result.observe(decisions, count, { result: allowed ? 'allow' : 'deny', code, policy });
      }
      const policyStats = sources.policies();
      result.observe(reloads, policyStats.reloads);
      result.observe(rejections, policyStats.rejections);
      const server = sources.server();
      result.observe(shadowEvaluations, server.shadow.evaluations);
      for (const [policy, count] of Object.entries(server.shadow.divergencesByPolicy)) result.observe(shadowDivergences, count, { policy });
      if (server.decisionLog !== undefined) {
        result.observe(decisionLog, server.decisionLog.written, { outcome: 'written' });
        result.observe(decisionLog, server.decisionLog.sampledOut, { outcome: 'sampled_out' });
      }
    },
    [decisions, reloads, rejections, shadowEvaluations, shadowDivergences, decisionLog],
  );
  registerSharedStateMetrics(meter, sources);
}

/** The Check histograms, for histogram-producer.ts. */
export function checkHistograms(checks: CheckCounters): ExportedHistogram[] {
  return [
    {
      name: 'gatehouse.check.duration.seconds',
      description: 'Time from receiving a Check to encoding its response',
      unit: 's',
      histogram: checks.duration,
      valueType: ValueType.DOUBLE,
    },
    {
      name: 'gatehouse.delegation.depth',
      description: 'Actor chain length of delegated tokens in Checks (1 for a direct on-behalf-of call)',
      unit: '{actor}',
      histogram: checks.delegationDepth,
      valueType: ValueType.INT,
    },
  ];
}

/**
 * The token cache's, the key sets' and Redis's counters: the gateway's, and
 * the Kubernetes webhook's and token exchange's where they have them.
 */
export function registerSharedStateMetrics(meter: Meter, sources: SharedStateMetricSources): void {
  const { tokenCache, jwks, redis, redisConnected } = sources;
  if (tokenCache !== undefined) {
    const hits = meter.createObservableCounter('gatehouse.token.cache.hits', {
      description: 'Token lookups answered from a cache tier: l1 (this replica), l2 (Redis), negative (a remembered bad signature)',
      valueType: ValueType.INT,
    });
    const misses = meter.createObservableCounter('gatehouse.token.cache.misses', {
      description: 'Token lookups that missed a cache tier: l1, l2',
      valueType: ValueType.INT,
    });
    const verifications = meter.createObservableCounter('gatehouse.token.verifications', {
      description: 'Tokens verified (the "verified" tier: no cache had them), by result: valid, invalid',
      valueType: ValueType.INT,
    });
    const entries = meter.createObservableGauge('gatehouse.token.cache.entries', {
      description: 'Entries held in this replica: l1 verdicts, negative (bad signatures)',
      valueType: ValueType.INT,
    });
    meter.addBatchObservableCallback(
      (result) => {
        const stats = tokenCache();
        observeAll(result, hits, [
          [stats.hits.l1, { tier: 'l1' }],
          [stats.hits.l2, { tier: 'l2' }],
          [stats.hits.negative, { tier: 'negative' }],
        ]);
        observeAll(result, misses, [
          [stats.misses.l1, { tier: 'l1' }],
          [stats.misses.l2, { tier: 'l2' }],
        ]);
        observeAll(result, verifications, [
          [stats.verifications - stats.verificationFailures, { result: 'valid' }],
          [stats.verificationFailures, { result: 'invalid' }],
        ]);
        observeAll(result, entries, [
          [stats.l1.entries, { tier: 'l1' }],
          [stats.negativeEntries, { tier: 'negative' }],
        ]);
      },
      [hits, misses, verifications, entries],
    );
  }
  if (jwks !== undefined) {
    const fetches = meter.createObservableCounter('gatehouse.jwks.fetches', {
      description: 'Key set fetches from the identity provider, by issuer',
      valueType: ValueType.INT,
    });
    const errors = meter.createObservableCounter('gatehouse.jwks.fetch.errors', {
      description: 'Key set fetches that failed, by issuer',
      valueType: ValueType.INT,
    });
    meter.addBatchObservableCallback(
      (result) => {
        for (const { issuer, fetches: count, fetchErrors } of jwks()) {
          result.observe(fetches, count, { issuer });
          result.observe(errors, fetchErrors, { issuer });
        }
      },
      [fetches, errors],
    );
  }
  if (redis !== undefined) {
    const commands = meter.createObservableCounter('gatehouse.redis.commands', {
      description: 'Commands of the token cache and key sets sent to Redis, by command: get, set',
      valueType: ValueType.INT,
    });
    const errors = meter.createObservableCounter('gatehouse.redis.errors', {
      description: 'Redis commands that failed (each read as a miss), timeouts included',
      valueType: ValueType.INT,
    });
    const timeouts = meter.createObservableCounter('gatehouse.redis.timeouts', {
      description: 'Redis commands that timed out (redis.commandTimeoutMs)',
      valueType: ValueType.INT,
    });
    const latency = meter.createObservableGauge('gatehouse.redis.command.latency.seconds', {
      description: 'Latency of the last 512 successful Redis commands, by quantile: 0.5, 0.99, 1 (the slowest)',
      unit: 's',
      valueType: ValueType.DOUBLE,
    });
    const observables = [commands, errors, timeouts, latency];
    const connected =
      redisConnected === undefined
        ? undefined
        : meter.createObservableGauge('gatehouse.redis.connected', {
            description: '1 while Redis answers and the revocation feed is live, else 0',
            valueType: ValueType.INT,
          });
    if (connected !== undefined) observables.push(connected);
    meter.addBatchObservableCallback((result) => {
      const stats = redis();
      observeAll(result, commands, [
        [stats.gets, { command: 'get' }],
        [stats.sets, { command: 'set' }],
      ]);
      result.observe(errors, stats.errors);
      result.observe(timeouts, stats.timeouts);
      if (stats.latencyMs.samples > 0) {
        observeAll(result, latency, [
          [stats.latencyMs.p50 / 1000, { quantile: '0.5' }],
          [stats.latencyMs.p99 / 1000, { quantile: '0.99' }],
          [stats.latencyMs.max / 1000, { quantile: '1' }],
        ]);
      }
      if (connected !== undefined && redisConnected !== undefined) result.observe(connected, redisConnected() ? 1 : 0);
    }, observables);
  }
}

function observeAll(result: BatchObservableResult, observable: Observable, values: readonly (readonly [number, Attributes])[]): void {
  for (const [value, attributes] of values) result.observe(observable, value, attributes);
}
