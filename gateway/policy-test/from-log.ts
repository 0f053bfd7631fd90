/**
 * Recorded decisions → policy test cases (`gatehouse test --from-log`): one
 * case per decision line, named by its decision id, expecting the logged
 * outcome. Other log lines are passed over; decisions a case cannot
 * reproduce are skipped with the reason.
 */
import { Document } from 'yaml';
import { DECISION_MESSAGE, REDACTED } from '../decision-log/index.js';

/** A case as written to the file: the shape docs/policy-tests.md describes. */
export interface RecordedCase {
  readonly name: string;
  readonly request: Record<string, unknown>;
  readonly auth?: { readonly principal: string; readonly claims?: Record<string, unknown>; readonly actors?: readonly string[] };
  readonly expect: { readonly allowed: boolean; readonly code: string; readonly policy?: string; readonly rule?: number };
}

/** A decision line that did not become a case. */
export interface SkippedDecision {
  /** 1-based line number in the log. */
  readonly line: number;
  readonly decisionId: string;
  readonly reason: string;
}

export interface CasesFromLog {
  readonly cases: readonly RecordedCase[];
  readonly skipped: readonly SkippedDecision[];
  /** One-line summaries of the cases' requests, for the file's comments. */
  readonly summaries: readonly string[];
}

/**
 * Reads a decision log (JSON lines; other lines are ignored).
 *
 * @example
 * const { cases, skipped } = casesFromDecisionLog(await readFile('decisions.jsonl', 'utf8'));
 */
export function casesFromDecisionLog(text: string): CasesFromLog {
  const cases: RecordedCase[] = [];
  const summaries: string[] = [];
  const skipped: SkippedDecision[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line.startsWith('{')) return;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return; // not a JSON line: not a decision
    }
    if (!isRecord(entry) || entry.msg !== DECISION_MESSAGE || typeof entry.decision_id !== 'string') return;
    const decisionId = entry.decision_id;
    const skip = (reason: string): void => void skipped.push({ line: i + 1, decisionId, reason });
    if (seen.has(decisionId)) return skip('the same decision id was logged before');
    seen.add(decisionId);
    const converted = toCase(entry, decisionId);
    if (typeof converted === 'string') return skip(converted);
    cases.push(converted);
    summaries.push(summarize(converted));
  });
  return { cases, skipped, summaries };
}

/** The case for one decision record, or why there is none. */
function toCase(entry: Record<string, unknown>, decisionId: string): RecordedCase | string {
  const { allowed, code, policy, rule, request, request_principal: principal, actors, claims } = entry;
  if (typeof allowed !== 'boolean' || typeof code !== 'string') return 'the record has no allowed/code';
  if (JSON.stringify([request, principal, actors, claims]).includes(REDACTED)) {
    return 'the record has redacted values (decisionLog.redact), so its request cannot be replayed';
  }
  if (!isRecord(request)) return 'the CheckRequest could not be read when it was decided, so there is no request to replay';
  if (code.startsWith('TOKEN_') || code.startsWith('DELEGATION_')) {
    return `decided by request authentication (${code}), which a case cannot reproduce without the token`;
  }
  let auth: RecordedCase['auth'];
  if (typeof principal === 'string') {
    auth = {
      principal,
      ...(isRecord(claims) ? { claims } : {}),
      ...(Array.isArray(actors) && actors.every((actor) => typeof actor === 'string') ? { actors: actors } : {}),
    };
  }
  return {
    name: decisionId,
    request,
    ...(auth === undefined ? {} : { auth }),
    expect: {
      allowed,
      code,
      ...(typeof policy === 'string' ? { policy } : {}),
      ...(typeof rule === 'number' ? { rule } : {}),
    },
  };
}

function summarize(testCase: RecordedCase): string {
  const { request, auth, expect } = testCase;
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  const from = text(request.source_principal) || 'no peer';
  const user = auth === undefined ? '' : ` for ${auth.principal}`;
  return `${text(request.method)} ${text(request.host)}${text(request.path)} from ${from}${user}: ${expect.allowed ? 'ALLOW' : 'DENY'} ${expect.code}`;
}

/**
 * The case file for converted cases, with a comment above each case saying
 * what it asks.
 *
 * @example
 * await writeFile('cases.yaml', renderCaseFile(casesFromDecisionLog(text), 'decisions.jsonl'));
 */
export function renderCaseFile({ cases, summaries }: CasesFromLog, source: string): string {
  const document = new Document({ cases });
  document.commentBefore = ` Recorded from ${source} by gatehouse test --from-log: each case expects the logged decision.`;
  const list = document.get('cases', true) as { items?: { commentBefore?: string }[] } | undefined;
  list?.items?.forEach((item, i) => {
    item.commentBefore = ` ${summaries[i] ?? ''}`;
  });
  return document.toString({ lineWidth: 0 });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
