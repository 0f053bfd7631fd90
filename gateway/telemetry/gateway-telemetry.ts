/**
 * The gateway's telemetry, wired by `gatehouse serve`: Checks counted on the
 * hot path (check-telemetry.ts), and the OpenTelemetry SDK loaded once there
 * is something to report to. Loading it takes about 0.2 s, much of it
 * compiling on the event loop, so it never happens while a replica that has
 * just started takes its first burst of Checks unless it must: with OTLP
 * exporters (which push, and trace every sampled Check) it loads after the
 * first Check is answered or a second after start; with only the Prometheus
 * endpoint it loads at the first scrape (the counters are kept in memory
 * until then, so nothing is lost). Without a consumer nothing is counted and
 * the SDK is never loaded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { CheckTelemetry } from './check-telemetry.js';
import type { GatewayMetricSources } from './gateway-metrics.js';
import type { TelemetryEnvironment } from './otel-environment.js';
import type { TelemetrySdk } from './sdk.js';

export interface GatewayTelemetryOptions {
  readonly environment: TelemetryEnvironment;
  /** The admin HTTP port serves `/metrics`. */
  readonly prometheus: boolean;
  readonly log: Logger;
}

/** The gateway's counters the metrics read, besides the Checks' own. */
export type GatewayStatsSources = Omit<GatewayMetricSources, 'checks'>;

/** How long after start-up the SDK is loaded when no Check came first. */
export const SDK_LOAD_DELAY_MS = 1000;

/**
 * @example
 * const telemetry = new GatewayTelemetry({ environment: readTelemetryEnvironment(process.env), prometheus: true, log });
 * const server = await startServer({ config, policies, log, authenticator, telemetry: telemetry.checks });
 * telemetry.observe({ server: () => server.stats(), policies: () => store.stats() });
 */
export class GatewayTelemetry {
  /** What the server calls per Check; absent when nothing consumes telemetry. */
  readonly checks: CheckTelemetry | undefined;
  private sources: GatewayStatsSources | undefined;
  private loading: Promise<TelemetrySdk | undefined> | undefined;
  private readonly startedAt = Date.now();
  /** OTLP exporters need the SDK soon after start; the Prometheus endpoint alone waits for its first scrape. */
  private readonly eager: boolean;

  constructor(private readonly options: GatewayTelemetryOptions) {
    const { environment, prometheus } = options;
    const pushes = environment.metrics !== undefined || environment.traces !== undefined;
    this.eager = pushes;
    this.checks =
      prometheus || pushes
        ? new CheckTelemetry({ tracing: environment.traces !== undefined, ...(pushes ? { onFirstCheck: () => void this.load() } : {}) })
        : undefined;
  }

  /** Names the counters to report; with OTLP exporters, loads the SDK a moment later (`SDK_LOAD_DELAY_MS`) unless a Check loads it sooner. */
  observe(sources: GatewayStatsSources): void {
    this.sources = sources;
    if (this.checks !== undefined && this.eager) setTimeout(() => void this.load(), SDK_LOAD_DELAY_MS).unref();
  }

  /** Loads and starts the SDK once; resolves undefined when nothing consumes telemetry or the SDK failed to start (logged). */
  load(): Promise<TelemetrySdk | undefined> {
    const checks = this.checks;
    const sources = this.sources;
    if (checks === undefined || sources === undefined) return Promise.resolve(undefined);
    const loadStarted = performance.now();
    this.loading ??= import('./gateway-sdk.js')
      .then(({ startGatewaySdk }) => startGatewaySdk({ ...this.options, checks, sources, startedAt: this.startedAt }))
      .then((sdk) => {
        const { environment, prometheus, log } = this.options;
        const ms = Math.round(performance.now() - loadStarted);
        log.info(
          { prometheus, otlpMetrics: environment.metrics !== undefined, otlpTraces: environment.traces !== undefined, ms },
          'telemetry started',
        );
        return sdk;
      })
      .catch((error: unknown) => {
        this.options.log.error({ err: error instanceof Error ? error.message : String(error) }, 'telemetry unavailable');
        return undefined;
      });
    return this.loading;
  }

  /** The admin HTTP port's `/metrics`: loads the SDK if a scrape comes first. */
  readonly serveMetrics = (request: IncomingMessage, response: ServerResponse): void => {
    void this.load().then((sdk) => {
      if (sdk?.metricsHandler) sdk.metricsHandler(request, response);
      else response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
    });
  };

  /** Exports what is pending (spans, a last OTLP metrics push), for at most `graceMs`. */
  async shutdown(graceMs?: number): Promise<void> {
    const sdk = await this.loading;
    await sdk?.shutdown(graceMs);
  }
}
