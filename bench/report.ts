/**
 * What each benchmark hands back to run.ts for RESULTS.md.
 */

/** A target from the benchmark brief and whether this run met it. */
export interface TargetOutcome {
  readonly target: string;
  readonly result: string;
  readonly met: boolean;
}

export interface BenchmarkReport {
  /** The `--only` name. */
  readonly name: string;
  readonly title: string;
  readonly targets: readonly TargetOutcome[];
  /** Markdown body of the benchmark's section (tables, set-up, command). */
  readonly markdown: string;
}

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
