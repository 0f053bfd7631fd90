/**
 * A stand-in OpenTelemetry collector for the telemetry benchmark: accepts
 * OTLP/HTTP exports (`POST /v1/traces`, `/v1/metrics`), reads and discards
 * the body, answers 200 with an empty export response, and counts what it
 * was sent. Listens on 127.0.0.1 only.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSink {
  readonly endpoint: string;
  /** Export requests and body bytes received, by path. */
  received(): Readonly<Record<string, { readonly requests: number; readonly bytes: number }>>;
  close(): Promise<void>;
}

/**
 * @example
 * const sink = await startOtlpSink();
 * spawnServer({ …, env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } });
 */
export async function startOtlpSink(): Promise<OtlpSink> {
  const counts: Record<string, { requests: number; bytes: number }> = {};
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    const entry = (counts[path] ??= { requests: 0, bytes: 0 });
    entry.requests++;
    request.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
    request.on('end', () => {
      // An empty Export…ServiceResponse is zero bytes in protobuf and `{}` in JSON.
      const json = (request.headers['content-type'] ?? '').includes('json');
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received: () => structuredClone(counts),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
