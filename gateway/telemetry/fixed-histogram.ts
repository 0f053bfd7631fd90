/**
 * A histogram with fixed bucket boundaries, cheap enough to record every
 * Check: a short scan and a few additions, nothing allocated. The metrics
 * layer reads its snapshot as OpenTelemetry histogram data.
 */

/** What a histogram holds, as OpenTelemetry's histogram points carry it. */
export interface HistogramSnapshot {
  /** Inclusive upper bounds, ascending. */
  readonly boundaries: readonly number[];
  /** One count per bucket: `boundaries.length + 1`, the last one for values above every boundary. */
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
  /** Absent while nothing was recorded. */
  readonly min?: number;
  readonly max?: number;
}

/**
 * @example
 * const latency = new FixedHistogram([0.0001, 0.001, 0.01]);
 * latency.record(0.00042);
 * latency.snapshot().counts; // [0, 1, 0, 0]
 */
export class FixedHistogram {
  private readonly counts: Float64Array;
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;

  constructor(readonly boundaries: readonly number[]) {
    for (let i = 1; i < boundaries.length; i++) {
      if (!(boundaries[i]! > boundaries[i - 1]!)) throw new Error('histogram boundaries must be ascending');
    }
    this.counts = new Float64Array(boundaries.length + 1);
  }

  record(value: number): void {
    const boundaries = this.boundaries;
    let bucket = 0;
    // OpenTelemetry's explicit buckets: a value equal to a boundary belongs to that boundary's bucket.
    while (bucket < boundaries.length && value > boundaries[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  snapshot(): HistogramSnapshot {
    return {
      boundaries: this.boundaries,
      counts: Array.from(this.counts),
      count: this.count,
      sum: this.sum,
      ...(this.count === 0 ? {} : { min: this.min, max: this.max }),
    };
  }
}
