/**
 * A small closed-loop Check load for the fault tests: a few concurrent
 * callers over one real gRPC connection, each sending the next kind of
 * request in turn and comparing every answer with the decision that kind
 * expects in the fault's current phase. Every answer is kept, so a test can
 * count failed and wrong Checks and find when a path first succeeded again.
 */
import type { ServiceError } from '@grpc/grpc-js';
import { connect, type TestClient } from '../helpers/grpc-client.js';

/** `allow`, or `<HTTP status> <code>` of a denial, e.g. `Unauthorized TOKEN_EXPIRED`. */
export type Decision = string;

export const ALLOW: Decision = 'allow';

/** One kind of request in the mix. */
export interface LoadCase {
  readonly name: string;
  /** The CheckRequest to send; called for every Check, so it may return a token never sent before. */
  readonly request: () => unknown;
  /**
   * The decisions that are right for this kind in `phase` (the test names its
   * phases). A Check counts as right when its decision is right in the phase
   * it was sent in or the one it was answered in.
   */
  readonly expected: (phase: string) => readonly Decision[];
}

/** One Check and what became of it; times are `performance.now()` values. */
export interface CheckRecord {
  readonly kind: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly sentPhase: string;
  /** Absent when the call failed. */
  readonly decision?: Decision;
  /** The gRPC error of a failed call. */
  readonly error?: ServiceError;
  readonly right: boolean;
}

export interface CheckLoad {
  /** The phase new Checks are sent in; set it as the fault progresses. */
  phase: string;
  readonly records: readonly CheckRecord[];
  /** Resolves with the first answer matching `match`, waiting up to `timeoutMs` for it. */
  firstAnswer(match: (record: CheckRecord) => boolean, timeoutMs: number): Promise<CheckRecord>;
  /** Stops sending and resolves with every record once the Checks in flight are answered. */
  stop(): Promise<CheckLoadSummary>;
}

export interface CheckLoadSummary {
  readonly records: readonly CheckRecord[];
  readonly failed: readonly CheckRecord[];
  readonly wrong: readonly CheckRecord[];
}

export interface CheckLoadOptions {
  readonly address: string;
  readonly cases: readonly LoadCase[];
  /** Checks in flight at once. */
  readonly concurrency?: number;
  /** Per-Check gRPC deadline: longer than the slowest legitimate answer (e.g. a key fetch's timeout). */
  readonly deadlineMs?: number;
  readonly phase?: string;
}

/**
 * Starts the load at once; stop it with `stop()`.
 *
 * @example
 * const load = startCheckLoad({ address: gatehouse.address, cases, phase: 'before' });
 * load.phase = 'fault';
 * const { failed, wrong } = await load.stop();
 */
export function startCheckLoad(options: CheckLoadOptions): CheckLoad {
  const client = connect('envoy.service.auth.v3.Authorization', options.address);
  const records: CheckRecord[] = [];
  const waiters = new Set<{ match: (record: CheckRecord) => boolean; resolve: (record: CheckRecord) => void }>();
  let next = 0;
  let stopping = false;
  const state = { phase: options.phase ?? 'start' };

  const record = (entry: CheckRecord): void => {
    records.push(entry);
    for (const waiter of waiters) {
      if (waiter.match(entry)) {
        waiters.delete(waiter);
        waiter.resolve(entry);
      }
    }
  };

  const caller = async (): Promise<void> => {
    while (!stopping) {
      const kind = options.cases[next++ % options.cases.length] as LoadCase;
      const sentPhase = state.phase;
      const sentAt = performance.now();
      const outcome = await checkOnce(client, kind.request(), options.deadlineMs ?? 5000);
      const answeredAt = performance.now();
      const rightDecisions = [...kind.expected(sentPhase), ...kind.expected(state.phase)];
      const right = 'decision' in outcome && rightDecisions.includes(outcome.decision);
      record({ kind: kind.name, sentAt, answeredAt, sentPhase, ...outcome, right });
      // After a failure (e.g. a draining server refusing), pause as a client backing off would, rather than spin.
      if ('error' in outcome) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const callers = Array.from({ length: options.concurrency ?? 6 }, caller);

  return {
    get phase() {
      return state.phase;
    },
    set phase(phase: string) {
      state.phase = phase;
    },
    records,
    firstAnswer: (match, timeoutMs) => {
      const found = records.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching answer within ${timeoutMs} ms; last answers: ${describeRecords(records.slice(-5))}`));
        }, timeoutMs);
        const waiter = {
          match,
          resolve: (entry: CheckRecord) => {
            clearTimeout(timer);
            resolve(entry);
          },
        };
        waiters.add(waiter);
      });
    },
    stop: async () => {
      stopping = true;
      await Promise.all(callers);
      client.close();
      return {
        records,
        failed: records.filter((entry) => entry.error !== undefined),
        wrong: records.filter((entry) => entry.decision !== undefined && !entry.right),
      };
    },
  };
}

/** One Check: the decision it carried, or the gRPC error. */
export async function checkOnce(
  client: TestClient,
  request: unknown,
  deadlineMs: number,
): Promise<{ decision: Decision } | { error: ServiceError }> {
  try {
    return { decision: decisionOf(await client.call('Check', request, deadlineMs)) };
  } catch (error) {
    return { error: error as ServiceError };
  }
}

/** The decision a CheckResponse carries. */
export function decisionOf(response: Record<string, unknown>): Decision {
  const denied = response['denied_response'] as { status?: { code?: string }; body?: string } | undefined;
  if (denied === undefined) return response['ok_response'] === undefined ? 'neither ok nor denied' : ALLOW;
  let code = '?';
  try {
    code = (JSON.parse(denied.body ?? '') as { code?: string }).code ?? '?';
  } catch {
    // not the JSON body Gatehouse writes; the '?' makes the decision wrong
  }
  return `${denied.status?.code ?? '?'} ${code}`;
}

/** A short text of a few records for an assertion message. */
export function describeRecords(entries: readonly CheckRecord[]): string {
  return entries
    .slice(0, 5)
    .map((entry) => `${entry.kind} (${entry.sentPhase}): ${entry.decision ?? `gRPC ${entry.error?.code} ${entry.error?.details}`}`)
    .join('; ');
}
