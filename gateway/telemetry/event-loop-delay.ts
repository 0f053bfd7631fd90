/**
 * The event loop's delay as a metric (`gatehouse.runtime.event_loop.delay.seconds`,
 * docs/telemetry.md): how late a timer that should fire every 10 ms fires,
 * sampled by Node's `perf_hooks.monitorEventLoopDelay` off the Check path,
 * reported as p50, p99 and max over the last complete window of
 * `EVENT_LOOP_DELAY_WINDOW_MS`. A window, not the process's whole life, so
 * a stall shows up and then goes away, whoever collects (a scrape, an OTLP
 * push, both). Loaded with the SDK: measuring starts when the SDK does.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ValueType, type Meter } from '@opentelemetry/api';

/** How long each window lasts; the gauge reports the last one that is complete. */
export const EVENT_LOOP_DELAY_WINDOW_MS = 10_000;
/** How often the monitor's timer is meant to fire; its lateness is the delay. */
const RESOLUTION_MS = 10;

/** p50, p99 and max of a window, in seconds. */
interface WindowDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Registers the gauge and starts measuring. The monitor's and the window's
 * timers are unreferenced: they never keep the process alive.
 *
 * @example
 * registerEventLoopDelayMetric(sdk.meter);
 */
export function registerEventLoopDelayMetric(meter: Meter, windowMs = EVENT_LOOP_DELAY_WINDOW_MS): void {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // The histogram records each interval between the timer's firings, so an idle loop reads the resolution itself.
  const lateness = (nanoseconds: number) => Math.max(0, nanoseconds / 1e9 - RESOLUTION_MS / 1000);
  let last: WindowDelay | undefined;
  setInterval(() => {
    last =
      histogram.count === 0
        ? undefined
        : { p50: lateness(histogram.percentile(50)), p99: lateness(histogram.percentile(99)), max: lateness(histogram.max) };
    histogram.reset();
  }, windowMs).unref();

  const gauge = meter.createObservableGauge('gatehouse.runtime.event_loop.delay.seconds', {
    description: `How late the event loop ran a 10 ms timer, by quantile: 0.5, 0.99, 1 (the latest), over the last complete ${windowMs / 1000} s`,
    unit: 's',
    valueType: ValueType.DOUBLE,
  });
  gauge.addCallback((result) => {
    if (last === undefined) return;
    result.observe(last.p50, { quantile: '0.5' });
    result.observe(last.p99, { quantile: '0.99' });
    result.observe(last.max, { quantile: '1' });
  });
}
