/**
 * An OpenTelemetry collector stand-in on 127.0.0.1: receives OTLP/HTTP
 * exports (`POST /v1/traces`, `/v1/metrics`) as the real exporters send
 * them, keeps every body, and decodes the JSON ones (http/json) into spans
 * and metric points that tests can look at.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CollectedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly resource: Readonly<Record<string, unknown>>;
}

export interface CollectedPoint {
  readonly metric: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

export interface ReceivedExport {
  readonly path: string;
  readonly contentType: string;
  readonly body: Buffer;
}

export interface OtlpCollector {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly received: readonly ReceivedExport[];
  spans(): CollectedSpan[];
  points(): CollectedPoint[];
  /** Resolves once `predicate` holds for the spans received, or rejects after `timeoutMs`. */
  waitForSpans(predicate: (spans: CollectedSpan[]) => boolean, timeoutMs?: number): Promise<CollectedSpan[]>;
  close(): Promise<void>;
}

/**
 * @example
 * const collector = await startOtlpCollector();
 * t.teardown(() => collector.close());
 * await startGatehouse(fixture, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
 */
export async function startOtlpCollector(): Promise<OtlpCollector> {
  const received: ReceivedExport[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const contentType = request.headers['content-type'] ?? '';
      received.push({ path: request.url ?? '/', contentType, body: Buffer.concat(chunks) });
      const json = contentType.includes('json');
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const jsonBodies = (path: string): Record<string, unknown>[] =>
    received
      .filter((entry) => entry.path === path && entry.contentType.includes('json'))
      .map((entry) => JSON.parse(entry.body.toString('utf8')) as Record<string, unknown>);
  const spans = (): CollectedSpan[] =>
    jsonBodies('/v1/traces').flatMap((body) =>
      list(body.resourceSpans).flatMap((resourceSpans) => {
        const resource = attributesOf((resourceSpans.resource as Record<string, unknown> | undefined)?.attributes);
        return list(resourceSpans.scopeSpans).flatMap((scopeSpans) =>
          list(scopeSpans.spans).map((span) => ({
            traceId: String(span.traceId),
            spanId: String(span.spanId),
            ...(typeof span.parentSpanId === 'string' && span.parentSpanId !== '' ? { parentSpanId: span.parentSpanId } : {}),
            name: String(span.name),
            kind: Number(span.kind),
            attributes: attributesOf(span.attributes),
            resource,
          })),
        );
      }),
    );
  const points = (): CollectedPoint[] =>
    jsonBodies('/v1/metrics').flatMap((body) =>
      list(body.resourceMetrics).flatMap((resourceMetrics) =>
        list(resourceMetrics.scopeMetrics).flatMap((scopeMetrics) =>
          list(scopeMetrics.metrics).flatMap((metric) => {
            const data = (metric.sum ?? metric.gauge ?? metric.histogram) as Record<string, unknown> | undefined;
            return list(data?.dataPoints).map((point) => ({ metric: String(metric.name), attributes: attributesOf(point.attributes) }));
          }),
        ),
      ),
    );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    spans,
    points,
    waitForSpans: async (predicate, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = spans();
        if (predicate(current)) return current;
        if (Date.now() > deadline)
          throw new Error(`spans never arrived; have ${current.length}: ${current.map((span) => span.name).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
}

/** OTLP/JSON `KeyValue`s as plain values (`intValue`s arrive as strings or numbers). */
function attributesOf(value: unknown): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const entry of list(value)) {
    const any = (entry.value ?? {}) as Record<string, unknown>;
    const [kind, raw] = Object.entries(any)[0] ?? [];
    attributes[String(entry.key)] = kind === 'intValue' ? Number(raw) : raw;
  }
  return attributes;
}

/**
 * The OpenTelemetry variables that send a service's traces and metrics to
 * `endpoint` as OTLP/JSON, exported often enough for a test to wait on.
 *
 * @example
 * const gatehouse = await startGatehouse({ config }, otlpEnvironment(collector.endpoint));
 */
export function otlpEnvironment(endpoint: string): NodeJS.ProcessEnv {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_METRIC_EXPORT_INTERVAL: '200',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  };
}
