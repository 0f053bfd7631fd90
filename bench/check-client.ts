/**
 * A grpc-js client that sends the fixed CheckRequest's exact bytes, so what
 * is verified here is what h2load sends.
 */
import * as grpc from '@grpc/grpc-js';
import { CHECK_PATH, decodeCheckResponse, type CheckResponseView } from './fixed-request.js';

export interface CheckClient {
  /** One Check with the given serialized request; rejects on a gRPC error. */
  check(request: Buffer, options?: { waitForReady?: boolean; deadlineMs?: number }): Promise<CheckResponseView>;
  close(): void;
}

/**
 * Connects to 127.0.0.1:`port`, reconnecting every ~5 ms while the server is
 * not up yet (for cold-start measurements).
 */
export function connectCheckClient(port: number): CheckClient {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 5,
    'grpc.max_reconnect_backoff_ms': 5,
    'grpc.use_local_subchannel_pool': 1,
  });
  return {
    check: (request, { waitForReady = false, deadlineMs = 10_000 } = {}) =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest<Buffer, CheckResponseView>(
          CHECK_PATH,
          (bytes) => bytes,
          decodeCheckResponse,
          request,
          new grpc.Metadata({ waitForReady }),
          { deadline: Date.now() + deadlineMs },
          (error, response) => (error || !response ? reject(error ?? new Error('empty response')) : resolve(response)),
        );
      }),
    close: () => client.close(),
  };
}

/** The gRPC status of the CheckResponse (0 = allow) and the deciding policy, if the server says. */
export function describeResponse(response: CheckResponseView): { code: number; allowed: boolean; policy: string | undefined } {
  const code = response.status?.code ?? 0;
  return {
    code,
    allowed: code === 0 && response.ok_response !== undefined,
    policy: response.dynamic_metadata?.fields?.policy?.string_value,
  };
}

/**
 * Sends Checks until one succeeds (any answer, allow or deny) or `timeoutMs`
 * passes, retrying `intervalMs` after each failure. Resolves with the answer.
 */
export async function firstAnswer(client: CheckClient, request: Buffer, timeoutMs = 20_000, intervalMs = 5): Promise<CheckResponseView> {
  const giveUp = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < giveUp) {
    try {
      return await client.check(request, { waitForReady: true, deadlineMs: Math.max(1, giveUp - Date.now()) });
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
  throw new Error(`no answer within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

/** The decision a response carries: `allow`, or `<HTTP status name> <code>` from the denial body. */
export function decisionOf(response: CheckResponseView): string {
  const code = response.status?.code ?? 0;
  if (code === 0 && response.ok_response !== undefined) return 'allow';
  const denied = response.denied_response as { status?: { code?: string }; body?: string } | undefined;
  if (!denied) return `status ${code} without a denial`;
  let reason = '?';
  try {
    reason = (JSON.parse(denied.body ?? '') as { code?: string }).code ?? '?';
  } catch {
    // not the JSON body Gatehouse writes
  }
  return `${denied.status?.code ?? '?'} ${reason}`;
}

/**
 * One Check with `body` before or after a timed run: Gatehouse must allow it
 * by `expectedPolicy`, the null server answer gRPC status 0; throws otherwise.
 */
export async function probeAnswer(kind: 'null' | 'gatehouse', port: number, body: Buffer, expectedPolicy: string): Promise<void> {
  const client = connectCheckClient(port);
  try {
    const response = await firstAnswer(client, body);
    const answer = describeResponse(response);
    if (kind === 'null' && answer.code !== 0) throw new Error(`null server answered gRPC status ${answer.code}`);
    if (kind === 'gatehouse' && (!answer.allowed || answer.policy !== expectedPolicy))
      throw new Error(`expected an allow by ${expectedPolicy}, got ${decisionOf(response)} (policy ${answer.policy ?? 'none'})`);
  } finally {
    client.close();
  }
}
