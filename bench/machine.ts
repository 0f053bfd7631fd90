/**
 * One line describing where the benchmarks ran, for RESULTS.md.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** CPU model, core count, Node version and date, e.g. `Intel(R) Xeon(R) Processor, 2 cores, Node v20.20.2, 2025-01-01`. */
export function describeMachine(now = new Date()): string {
  return `${cpuModel()}, ${os.availableParallelism()} cores, Node ${process.version}, ${os.platform()} ${os.arch()}, ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('model name'));
    if (line) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux; fall back to what Node reports
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}
