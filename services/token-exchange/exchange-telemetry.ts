/**
 * The token exchange's telemetry, loaded only when OTEL_* variables turn it
 * on: a SERVER span and a counter per exchange, by result and OAuth error
 * code, and the key sets and Redis as metrics (docs/telemetry.md). A span
 * never carries the subject, the actor, the tokens, the audiences or the
 * scopes of the exchange.
 */
import {
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  ValueType,
  type Attributes,
  type Counter,
  type Meter,
  type Tracer,
} from '@opentelemetry/api';
import { hrTime, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  registerSharedStateMetrics,
  shouldStartSpan,
  type SharedStateMetricSources,
  type TelemetrySdk,
} from '../../gateway/telemetry/lazy.js';
import { TokenExchanger, type TokenExchangerOptions } from './exchange.js';
import type { TraceContext } from '../shared/trace-context.js';
import type { ClientConnection, ExchangeOutcome, ExchangeRequest } from './types.js';

const propagator = new W3CTraceContextPropagator();

export const TOKEN_EXCHANGE_SPAN = 'gatehouse.tokenexchange.v1.TokenExchangeService/Exchange';

/**
 * @example
 * const telemetry = new ExchangeTelemetry(sdk, { jwks: () => registry.stats() });
 * const exchanger = telemetry.exchanger(options);
 */
export class ExchangeTelemetry {
  private readonly exchanges: Counter;
  private readonly tracer: Tracer | undefined;
  private readonly rootSampling: number;

  constructor(sdk: TelemetrySdk, sources: SharedStateMetricSources) {
    this.tracer = sdk.tracer;
    this.rootSampling = sdk.rootSampling;
    this.exchanges = registerExchangeMetrics(sdk.meter, sources);
  }

  /** A TokenExchanger whose every exchange is counted and traced. */
  exchanger(options: TokenExchangerOptions): TokenExchanger {
    return new ObservedTokenExchanger(options, this);
  }

  /** Records one finished exchange. */
  exchanged(outcome: ExchangeOutcome, startedAt: number, latencyMs: number, trace: TraceContext): void {
    const attributes: Attributes = outcome.ok
      ? { 'gatehouse.exchange.result': 'issued', 'gatehouse.exchange.cached': outcome.cached }
      : { 'gatehouse.exchange.result': 'refused', 'gatehouse.exchange.error': outcome.error.error };
    this.exchanges.add(1, outcome.ok ? { result: 'issued', error: '' } : { result: 'refused', error: outcome.error.error });
    if (this.tracer === undefined) return;
    // A child of the caller's trace when it sent one.
    const parent = trace.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, trace, defaultTextMapGetter);
    if (!shouldStartSpan(parent, this.rootSampling)) return;
    this.tracer
      .startSpan(TOKEN_EXCHANGE_SPAN, { kind: SpanKind.SERVER, startTime: hrTime(startedAt), attributes }, parent)
      .end(hrTime(startedAt + latencyMs));
  }
}

class ObservedTokenExchanger extends TokenExchanger {
  constructor(
    options: TokenExchangerOptions,
    private readonly telemetry: ExchangeTelemetry,
  ) {
    super(options);
  }

  override async exchange(request: ExchangeRequest, connection: ClientConnection, trace: TraceContext = {}): Promise<ExchangeOutcome> {
    const startedAt = performance.now();
    const outcome = await super.exchange(request, connection, trace);
    this.telemetry.exchanged(outcome, startedAt, performance.now() - startedAt, trace);
    return outcome;
  }
}

function registerExchangeMetrics(meter: Meter, sources: SharedStateMetricSources): Counter {
  registerSharedStateMetrics(meter, sources);
  return meter.createCounter('gatehouse.token_exchange.exchanges', {
    description: 'Token exchanges answered, by result (issued, refused) and OAuth error code ("" when issued)',
    valueType: ValueType.INT,
  });
}
