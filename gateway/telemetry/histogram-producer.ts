/**
 * Histograms kept outside the SDK (fixed-histogram.ts: recorded on the hot
 * path from the first Check, before the SDK is loaded) handed to the SDK's
 * readers as cumulative OpenTelemetry histogram data, through the readers'
 * `metricProducers` hook. Loaded with the SDK.
 */
import { ValueType, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type HistogramMetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { FixedHistogram } from './fixed-histogram.js';
import { INSTRUMENTATION_SCOPE } from './sdk.js';

/** One exported histogram: its name, what it measures, and where its counts are. */
export interface ExportedHistogram {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly histogram: FixedHistogram;
  /** Whole numbers (a depth) or fractions (seconds). */
  readonly valueType: ValueType;
}

/**
 * @example
 * new PrometheusExporter({ metricProducers: [histogramProducer(resource, [checkDuration], hrTime())] });
 */
export function histogramProducer(resource: Resource, histograms: readonly ExportedHistogram[], startTime: HrTime): MetricProducer {
  return {
    collect: () => {
      const endTime = hrTime();
      const metrics = histograms.map(({ name, description, unit, histogram, valueType }): HistogramMetricData => {
        const { boundaries, counts, count, sum, min, max } = histogram.snapshot();
        return {
          descriptor: { name, description, unit, valueType },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: [
            {
              startTime,
              endTime,
              attributes: {},
              value: { buckets: { boundaries: [...boundaries], counts: [...counts] }, count, sum, min, max },
            },
          ],
        };
      });
      return Promise.resolve({
        resourceMetrics: { resource, scopeMetrics: [{ scope: { name: INSTRUMENTATION_SCOPE }, metrics }] },
        errors: [],
      });
    },
  };
}
