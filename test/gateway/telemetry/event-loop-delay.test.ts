/**
 * The event loop's delay metric: a stall of the loop shows up in the window
 * it happened in and is gone from the next (with the SDK's real meter
 * provider and a real stall), and the gateway serves the gauge on `/metrics`
 * once a window is complete.
 */
import { setTimeout as delay } from 'node:timers/promises';
import test from 'ava';
import { MeterProvider, MetricReader, type GaugeMetricData } from '@opentelemetry/sdk-metrics';
import { EVENT_LOOP_DELAY_WINDOW_MS, registerEventLoopDelayMetric } from '../../../gateway/telemetry/event-loop-delay.js';
import { startGatehouse, type RunningGatehouse } from '../../helpers/gatehouse.js';

const METRIC = 'gatehouse.runtime.event_loop.delay.seconds';

/** A reader that collects only when asked, as a scrape does. */
class PullReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The gauge's values by quantile label, or undefined when it reported nothing. */
async function readDelay(reader: MetricReader): Promise<Record<string, number> | undefined> {
  const { resourceMetrics } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((entry) => entry.descriptor.name === METRIC);
  if (metric === undefined || metric.dataPoints.length === 0) return undefined;
  return Object.fromEntries((metric as GaugeMetricData).dataPoints.map((point) => [String(point.attributes.quantile), point.value]));
}

function stallFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // keeps the event loop from running any timer
  }
}

test('a 300 ms stall of the event loop is the max of its window and gone from the next window', async (t) => {
  const windowMs = 600;
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  t.teardown(() => provider.shutdown());
  registerEventLoopDelayMetric(provider.getMeter('test'), windowMs);

  t.is(await readDelay(reader), undefined, 'nothing before the first window is complete');
  await delay(100);
  stallFor(300);
  await delay(windowMs);
  const stalled = await readDelay(reader);
  t.truthy(stalled);
  t.true((stalled?.['1'] ?? 0) >= 0.25, `max ${stalled?.['1']} s`);
  t.true((stalled?.['0.5'] ?? Infinity) <= (stalled?.['0.99'] ?? 0) && (stalled?.['0.99'] ?? Infinity) <= (stalled?.['1'] ?? 0));

  await delay(windowMs);
  const calm = await readDelay(reader);
  t.truthy(calm);
  // The stall is gone: the next window's worst delay is below the stall's (on a loaded machine it need not be near zero).
  t.true(
    (calm?.['1'] ?? Infinity) < (stalled?.['1'] ?? 0),
    `max ${calm?.['1']} s in the window after the stall, ${stalled?.['1']} s in its own`,
  );
});

test('the gateway serves the event loop delay on /metrics, p50 ≤ p99 ≤ max, once a window is complete', async (t) => {
  const gatehouse = await startGatehouse({ policies: {} });
  t.teardown(() => gatehouse.stop());
  const metrics = `http://127.0.0.1:${await adminPort(gatehouse)}/metrics`;

  // The first scrape loads the SDK, which starts measuring.
  t.notRegex(await (await fetch(metrics)).text(), /gatehouse_runtime_event_loop_delay_seconds\{/);
  await delay(EVENT_LOOP_DELAY_WINDOW_MS + 500);
  const text = await (await fetch(metrics)).text();
  const value = (quantile: string) =>
    Number(new RegExp(`^gatehouse_runtime_event_loop_delay_seconds\\{quantile="${quantile}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
  const [p50, p99, max] = [value('0.5'), value('0.99'), value('1')];
  t.true(p50 >= 0 && p50 <= p99 && p99 <= max && max < 10, `p50 ${p50}, p99 ${p99}, max ${max}`);
});

async function adminPort(gatehouse: RunningGatehouse): Promise<number> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await delay(20)) {
    const line = gatehouse.logs.find((entry) => entry.msg === 'admin http serving');
    if (line) return line.port as number;
  }
  throw new Error(`no admin http port:\n${gatehouse.output()}`);
}
