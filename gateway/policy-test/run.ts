/**
 * Runs policy test cases through the same Authorizer `serve` uses, with the
 * case's verified token injected (case-authenticator.ts), and compares each
 * outcome with what the case expects.
 */
import { Authorizer, type CheckOutcome, type PolicySource } from '../authorizer.js';
import type { GatehouseConfig } from '../config/config.js';
import type { DelegationPolicySource } from '../identity/delegation-verifier.js';
import { CaseAuthenticator } from './case-authenticator.js';
import type { CaseExpectation, CaseFile, PolicyTestCase } from './case-file.js';

/** The outcome of one case, as reported: the live decision and, when shadow policies apply, the candidate's. */
export interface ActualOutcome {
  readonly allowed: boolean;
  readonly httpStatus: number;
  readonly code: string;
  readonly reason: string;
  readonly policy?: string;
  readonly rule?: number;
  readonly audited: readonly string[];
  readonly shadow?: {
    readonly allowed: boolean;
    readonly code: string;
    readonly policy?: string;
    readonly rule?: number;
    readonly diverged: boolean;
  };
}

export interface CaseResult {
  readonly index: number;
  readonly name: string;
  readonly passed: boolean;
  /** The expectation fields that did not hold (`allowed`, `code`, `shadow.diverged`, …). */
  readonly differs: readonly string[];
  readonly expected: CaseExpectation;
  readonly actual: ActualOutcome;
}

export interface FileResult {
  readonly file: string;
  readonly results: readonly CaseResult[];
}

export interface TestRun {
  readonly files: readonly FileResult[];
  readonly passed: number;
  readonly failed: number;
}

/** What the cases run against: the configuration and its policy files (a PolicyStore). */
export interface PolicyTestTarget {
  readonly config: GatehouseConfig;
  readonly policies: PolicySource & DelegationPolicySource;
}

/**
 * Runs every case of every file, in order.
 *
 * @example
 * const run = await runCaseFiles([await readCaseFile('tests/todo.yaml')], { config, policies: store });
 * process.exitCode = run.failed === 0 ? 0 : 1;
 */
export async function runCaseFiles(files: readonly CaseFile[], target: PolicyTestTarget): Promise<TestRun> {
  const fileResults: FileResult[] = [];
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const results: CaseResult[] = [];
    for (const testCase of file.cases) {
      const result = await runCase(testCase, target);
      if (result.passed) passed += 1;
      else failed += 1;
      results.push(result);
    }
    fileResults.push({ file: file.file, results });
  }
  return { files: fileResults, passed, failed };
}

/** Decides one case and compares. */
export async function runCase(testCase: PolicyTestCase, { config, policies }: PolicyTestTarget): Promise<CaseResult> {
  const authenticator = new CaseAuthenticator(testCase.auth, policies.currentDelegation());
  const outcome = await new Authorizer(config, policies, authenticator).check(testCase.request);
  const actual = actualOutcome(outcome);
  const differs = compare(testCase.expect, actual);
  return { index: testCase.index, name: testCase.name, passed: differs.length === 0, differs, expected: testCase.expect, actual };
}

function actualOutcome(outcome: CheckOutcome): ActualOutcome {
  const { decision, shadow } = outcome;
  return {
    allowed: decision.allowed,
    httpStatus: outcome.httpStatus,
    code: decision.code,
    reason: decision.reason,
    ...(decision.policy === undefined ? {} : { policy: decision.policy }),
    ...(decision.rule === undefined ? {} : { rule: decision.rule }),
    audited: decision.audited,
    ...(shadow === undefined
      ? {}
      : {
          shadow: {
            allowed: shadow.decision.allowed,
            code: shadow.decision.code,
            ...(shadow.decision.policy === undefined ? {} : { policy: shadow.decision.policy }),
            ...(shadow.decision.rule === undefined ? {} : { rule: shadow.decision.rule }),
            diverged: shadow.diverged,
          },
        }),
  };
}

function compare(expected: CaseExpectation, actual: ActualOutcome): string[] {
  const differs: string[] = [];
  if (expected.allowed !== actual.allowed) differs.push('allowed');
  if (expected.code !== undefined && expected.code !== actual.code) differs.push('code');
  if (expected.httpStatus !== undefined && expected.httpStatus !== actual.httpStatus) differs.push('httpStatus');
  if (expected.policy !== undefined && expected.policy !== actual.policy) differs.push('policy');
  if (expected.rule !== undefined && expected.rule !== actual.rule) differs.push('rule');
  if (expected.audited !== undefined && !sameSet(expected.audited, actual.audited)) differs.push('audited');
  const shadow = expected.shadow;
  if (shadow !== undefined) {
    if (actual.shadow === undefined) differs.push('shadow');
    else {
      for (const field of ['allowed', 'code', 'policy', 'rule', 'diverged'] as const) {
        if (shadow[field] !== undefined && shadow[field] !== actual.shadow[field]) differs.push(`shadow.${field}`);
      }
    }
  }
  return differs;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item) => b.includes(item));
}
