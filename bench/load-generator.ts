/**
 * A gRPC load generator for Checks whose bodies change from request to
 * request (h2load posts one fixed body). Run as its own process, pinned like
 * h2load: `node load-generator.js <spec.json>`; it prints one JSON line with
 * the result. Bodies are pre-encoded CheckRequests (see load-client.ts for
 * the file format), sent as they are; responses are not decoded by
 * proto-loader in closed mode, only scanned for the status code and
 * `ok_response`, so the client costs the same whatever the server answers.
 *
 * Closed loop: `channels` HTTP/2 connections, `concurrency` calls in flight
 * in all, each answer starts the next call; counts answers in the measured
 * window after a warm-up. Open loop: a fixed rate, each request sent at its
 * scheduled time whether or not earlier ones were answered; latency is
 * measured from the scheduled time, so a stall shows up in full.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { decisionOf } from './check-client.js';
import { CHECK_PATH, decodeCheckResponse } from './fixed-request.js';

/** What every answer must be: an allow by Gatehouse, or gRPC status 0 from the null server. */
export type ClosedExpectation = 'allow' | 'status-ok';

export interface ClosedLoopSpec {
  readonly mode: 'closed';
  readonly port: number;
  readonly bodiesFile: string;
  readonly channels: number;
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Start over at the first body when the list runs out; otherwise stop (and report when). */
  readonly cycle: boolean;
  readonly expect: ClosedExpectation;
}

export interface OpenLoopSpec {
  readonly mode: 'open';
  readonly port: number;
  readonly bodiesFile: string;
  /** JSON array: the body index of each request, in sending order. */
  readonly sequenceFile: string;
  /** The expected decision (`decisionOf`) for each body. */
  readonly expected: readonly string[];
  readonly ratePerSecond: number;
  readonly deadlineMs: number;
  readonly channels: number;
  /** Before the recorded sequence: this long at the same rate, cycling through these body indices; answers are not recorded. */
  readonly warmupSeconds: number;
  readonly warmupBodies: readonly number[];
}

export type LoadSpec = ClosedLoopSpec | OpenLoopSpec;

export interface ClosedLoopResult {
  readonly mode: 'closed';
  /** Answers in the measured window. */
  readonly completed: number;
  readonly windowSeconds: number;
  readonly perSecond: number;
  /** Answers over the whole run (warm-up included), and how many were not the expected kind. */
  readonly answered: number;
  readonly unexpected: number;
  readonly errors: number;
  readonly examples: readonly string[];
  /** The generator's own CPU time in the window, as a percentage of one core. */
  readonly cpuPercent: number;
  /** Bodies taken from the list (without `cycle`: distinct bodies sent). */
  readonly bodiesSent: number;
  /** Without `cycle`: seconds after the start when the list ran out, if it did. */
  readonly exhaustedAtSeconds: number | null;
}

export interface OpenLoopResult {
  readonly mode: 'open';
  /** Epoch milliseconds of the first scheduled request. */
  readonly startedAt: number;
  /** Warm-up requests that failed or got a different answer than expected (not in the records below). */
  readonly warmupProblems: number;
  /** Per request, in sending order: scheduled offset (ms), latency (ms), 0 expected / 1 wrong decision / 2 gRPC error or timeout. */
  readonly offsets: readonly number[];
  readonly latencies: readonly number[];
  readonly outcomes: readonly number[];
  readonly examples: readonly string[];
  readonly cpuPercent: number;
}

/** Reads the bodies file: each body is a uint32 big-endian length, then the bytes. */
export function readBodies(file: string): Buffer[] {
  const data = readFileSync(file);
  const bodies: Buffer[] = [];
  for (let offset = 0; offset < data.length;) {
    const length = data.readUInt32BE(offset);
    bodies.push(data.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return bodies;
}

function readVarint(bytes: Buffer, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  let position = start;
  for (;;) {
    const byte = bytes[position++] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0 || position >= bytes.length) return [value, position];
    shift += 7;
  }
}

/**
 * The gRPC-status code of a serialized CheckResponse (field 1, google.rpc.Status
 * field 1) and whether it has an `ok_response` (field 3), without decoding the rest.
 */
export function scanCheckResponse(bytes: Buffer): { code: number; ok: boolean } {
  let code = 0;
  let ok = false;
  for (let position = 0; position < bytes.length;) {
    const [tag, afterTag] = readVarint(bytes, position);
    const wireType = tag & 7;
    const field = Math.floor(tag / 8);
    if (wireType === 0) position = readVarint(bytes, afterTag)[1];
    else if (wireType === 1) position = afterTag + 8;
    else if (wireType === 5) position = afterTag + 4;
    else if (wireType === 2) {
      const [length, start] = readVarint(bytes, afterTag);
      if (field === 1) {
        const status = bytes.subarray(start, start + length);
        const [statusTag, afterStatusTag] = readVarint(status, 0);
        if (status.length > 0 && statusTag === 8) code = readVarint(status, afterStatusTag)[0];
      } else if (field === 3) ok = true;
      position = start + length;
    } else break;
  }
  return { code, ok };
}

function clients(port: number, count: number): grpc.Client[] {
  return Array.from(
    { length: count },
    () => new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  );
}

function call(client: grpc.Client, body: Buffer, deadlineMs: number, done: (error: grpc.ServiceError | null, response?: Buffer) => void) {
  client.makeUnaryRequest<Buffer, Buffer>(
    CHECK_PATH,
    (bytes) => bytes,
    (bytes) => bytes,
    body,
    new grpc.Metadata(),
    { deadline: Date.now() + deadlineMs },
    (error, response) => done(error, response),
  );
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

async function runClosedLoop(spec: ClosedLoopSpec): Promise<ClosedLoopResult> {
  const bodies = readBodies(spec.bodiesFile);
  const channels = clients(spec.port, spec.channels);
  const start = performance.now();
  const windowStart = start + spec.warmupSeconds * 1000;
  const windowEnd = windowStart + spec.durationSeconds * 1000;
  let next = 0;
  let answered = 0;
  let completed = 0;
  let unexpected = 0;
  let errors = 0;
  let exhaustedAt: number | null = null;
  let cpuAtWindowStart: number | undefined;
  let cpuAtWindowEnd: number | undefined;
  const examples: string[] = [];
  const note = (text: string) => {
    if (examples.length < 5) examples.push(text);
  };

  // Timers mark the window's edges (a CPU reading cannot wait for the next answer).
  setTimeout(() => (cpuAtWindowStart = cpuMicros()), spec.warmupSeconds * 1000);
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const launch = (client: grpc.Client): void => {
      const now = performance.now();
      if (now >= windowEnd) {
        if (inFlight === 0) resolve();
        return;
      }
      if (next >= bodies.length) {
        if (!spec.cycle) {
          exhaustedAt ??= (now - start) / 1000;
          if (inFlight === 0) resolve();
          return;
        }
        next = 0;
      }
      const body = bodies[next++] as Buffer;
      inFlight++;
      call(client, body, 10_000, (error, response) => {
        inFlight--;
        const at = performance.now();
        if (error || !response) {
          errors++;
          note(error ? `gRPC ${error.code}: ${error.details}` : 'empty response');
        } else {
          answered++;
          const { code, ok } = scanCheckResponse(response);
          if (code !== 0 || (spec.expect === 'allow' && !ok)) {
            unexpected++;
            note(`status ${code}${ok ? '' : ' without ok_response'}`);
          }
          if (at >= windowStart && at < windowEnd) completed++;
        }
        if (at >= windowEnd) cpuAtWindowEnd ??= cpuMicros();
        launch(client);
      });
    };
    for (let i = 0; i < spec.concurrency; i++) launch(channels[i % channels.length] as grpc.Client);
  });
  const windowSeconds = spec.durationSeconds;
  const cpu = (cpuAtWindowEnd ?? cpuMicros()) - (cpuAtWindowStart ?? 0);
  channels.forEach((client) => client.close());
  return {
    mode: 'closed',
    completed,
    windowSeconds,
    perSecond: completed / windowSeconds,
    answered,
    unexpected,
    errors,
    examples,
    cpuPercent: (cpu / 1e6 / windowSeconds) * 100,
    bodiesSent: spec.cycle ? Math.min(bodies.length, answered + errors) : next,
    exhaustedAtSeconds: exhaustedAt,
  };
}

async function runOpenLoop(spec: OpenLoopSpec): Promise<OpenLoopResult> {
  const bodies = readBodies(spec.bodiesFile);
  const sequence = JSON.parse(readFileSync(spec.sequenceFile, 'utf8')) as number[];
  const channels = clients(spec.port, spec.channels);
  const warmup = Math.round(spec.warmupSeconds * spec.ratePerSecond);
  const total = sequence.length;
  const offsets = new Array<number>(total).fill(0);
  const latencies = new Array<number>(total).fill(0);
  const outcomes = new Array<number>(total).fill(2);
  const examples: string[] = [];
  const intervalMs = 1000 / spec.ratePerSecond;
  let warmupProblems = 0;
  let sent = 0;
  let answered = 0;
  let cpuStart = 0;
  const start = performance.now();
  const recordedStart = start + warmup * intervalMs;
  let startedAt = 0;

  await new Promise<void>((resolve) => {
    const send = (slot: number): void => {
      const recorded = slot >= warmup;
      const index = slot - warmup;
      const bodyIndex = recorded ? (sequence[index] as number) : (spec.warmupBodies[slot % spec.warmupBodies.length] as number);
      const scheduled = slot * intervalMs;
      call(channels[slot % channels.length] as grpc.Client, bodies[bodyIndex] as Buffer, spec.deadlineMs, (error, response) => {
        const decision = error || !response ? undefined : decisionOf(decodeCheckResponse(response));
        const expected = spec.expected[bodyIndex];
        if (!recorded) {
          if (decision !== expected) {
            warmupProblems++;
            if (examples.length < 10)
              examples.push(
                `warm-up #${slot}: ${decision === undefined ? `gRPC ${error?.code ?? '?'} ${error?.details ?? 'empty'}` : decision}`,
              );
          }
        } else {
          offsets[index] = scheduled - warmup * intervalMs;
          latencies[index] = performance.now() - start - scheduled;
          outcomes[index] = decision === undefined ? 2 : decision === expected ? 0 : 1;
          if (decision !== expected && examples.length < 10) {
            const at = `#${index} at ${Math.round(offsets[index])} ms`;
            examples.push(
              decision === undefined
                ? `${at}: gRPC ${error?.code ?? '?'} ${error?.details ?? 'empty'}`
                : `${at}: expected ${expected}, got ${decision}`,
            );
          }
        }
        if (++answered === warmup + total) resolve();
      });
    };
    // Catch up to the schedule on every tick: timers are coarse, the rate is not.
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(warmup + total, Math.floor((now - start) / intervalMs) + 1);
      while (sent < due) {
        if (sent === warmup) {
          startedAt = Date.now() - (now - recordedStart);
          cpuStart = cpuMicros();
          process.stdout.write(`${JSON.stringify({ event: 'started', startedAt })}\n`);
        }
        send(sent++);
      }
      if (sent < warmup + total) setTimeout(tick, 1);
    };
    tick();
  });
  const seconds = (performance.now() - recordedStart) / 1000;
  channels.forEach((client) => client.close());
  return {
    mode: 'open',
    startedAt,
    warmupProblems,
    offsets: offsets.map((value) => Math.round(value * 100) / 100),
    latencies: latencies.map((value) => Math.round(value * 100) / 100),
    outcomes,
    examples,
    cpuPercent: ((cpuMicros() - cpuStart) / 1e6 / seconds) * 100,
  };
}

async function main(): Promise<void> {
  const specFile = process.argv[2];
  if (!specFile) throw new Error('usage: load-generator.js <spec.json>');
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as LoadSpec;
  const result = spec.mode === 'closed' ? await runClosedLoop(spec) : await runOpenLoop(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`load-generator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
