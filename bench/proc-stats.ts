/**
 * What a server process costs, read from Linux's /proc: CPU time and
 * resident memory, over a window of a benchmark's measured load. Every
 * benchmark that reports CPU per 1,000 Checks or RSS reads them here.
 *
 * CPU time is the sum over the process's threads of the first field of
 * `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on a CPU): the main
 * thread's own `/proc/<pid>/schedstat` would miss the garbage collector's
 * and libuv's threads. Memory is `VmRSS` and `VmHWM` (the peak RSS) of
 * `/proc/<pid>/status`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatSummary, summarize } from './stats.js';

/** One reading of a process. */
export interface ProcessReading {
  /** `performance.now()` of the reading, ms. */
  readonly at: number;
  /** CPU time of all its threads so far, seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

/** What a process used between two readings. */
export interface ProcessUsage {
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  /** CPU time per wall second: 1 = one core busy all the time. */
  readonly cpuShare: number;
  /** RSS at the end of the window, and the process's peak RSS until then. */
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

/** Reads `pid` now; throws when the process is gone or /proc is not there. */
export function readProcess(pid: number): ProcessReading {
  let cpuNanoseconds = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuNanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read: its time is lost either way
    }
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { at: performance.now(), cpuSeconds: cpuNanoseconds / 1e9, rssBytes: kilobytes('VmRSS'), peakRssBytes: kilobytes('VmHWM') };
}

/** The usage between two readings of the same process. */
export function usageBetween(start: ProcessReading, end: ProcessReading): ProcessUsage {
  const wallSeconds = (end.at - start.at) / 1000;
  const cpuSeconds = end.cpuSeconds - start.cpuSeconds;
  return { wallSeconds, cpuSeconds, cpuShare: cpuSeconds / wallSeconds, rssBytes: end.rssBytes, peakRssBytes: end.peakRssBytes };
}

/**
 * Reads `pid` `fromSeconds` from now and again `seconds` later: a window
 * that lies inside a load run started now, past its warm-up, so the load
 * generator's own start-up and the end of the run stay outside it.
 *
 * @example
 * const usage = await measureWindow(pid, 5, 60); // from 5 s from now to 65 s from now
 */
export async function measureWindow(pid: number, fromSeconds: number, seconds: number): Promise<ProcessUsage> {
  await sleep(fromSeconds * 1000);
  const start = readProcess(pid);
  await sleep(seconds * 1000);
  return usageBetween(start, readProcess(pid));
}

/** Kept between a load's edges and the window read, seconds: the generator's start-up and the last answers stay outside. */
const WINDOW_MARGIN_SECONDS = 0.25;

/**
 * The usage of `pid` during the measured part of a load run started now
 * (`warmupSeconds`, then `durationSeconds` measured), less a margin at each end.
 *
 * @example
 * const [usage, result] = await Promise.all([measureDuringLoad(pid, 1, 4), runH2load({ ..., warmupSeconds: 1, durationSeconds: 4 })]);
 */
export function measureDuringLoad(pid: number, warmupSeconds: number, durationSeconds: number): Promise<ProcessUsage> {
  return measureWindow(pid, warmupSeconds + WINDOW_MARGIN_SECONDS, Math.max(0.1, durationSeconds - 2 * WINDOW_MARGIN_SECONDS));
}

/** CPU-seconds per 1,000 Checks, from the CPU share of a window and the Checks per second of the same load. */
export function cpuSecondsPerThousand(usage: ProcessUsage, checksPerSecond: number): number {
  return (usage.cpuShare / checksPerSecond) * 1000;
}

/** Bytes as MiB with one decimal: `85.3`. */
export function mebibytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** Cells of a usage table: CPU-seconds per 1,000 Checks, CPU share, RSS and peak RSS, each a median (min–max) over the runs. */
export function usageCells(usages: readonly ProcessUsage[], checksPerSecond: readonly number[]): string[] {
  const of = (pick: (usage: ProcessUsage, index: number) => number, decimals: number) =>
    formatSummary(summarize(usages.map(pick)), decimals);
  return [
    of((usage, index) => cpuSecondsPerThousand(usage, checksPerSecond[index] as number), 3),
    of((usage) => usage.cpuShare * 100, 0),
    of((usage) => Number(mebibytes(usage.rssBytes)), 1),
    of((usage) => Number(mebibytes(usage.peakRssBytes)), 1),
  ];
}

/** How the usage figures were read, for a benchmark's notes in RESULTS.md. */
export const PROC_NOTE =
  "Server CPU and memory from /proc, read 0.25 s after the warm-up ends and 0.25 s before the measured part ends: CPU-seconds = the sum over the server process's threads of the first field of `/proc/<pid>/task/*/schedstat`; per 1,000 Checks = CPU-seconds per wall second ÷ the run's Checks per second × 1,000. RSS = `VmRSS`, peak = `VmHWM` of `/proc/<pid>/status` at the end of the window.";
