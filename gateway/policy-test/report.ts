/**
 * The report of a policy test run: text for people (one line per case, the
 * details of each failure, a summary), JSON for machines.
 */
import type { CaseExpectation } from './case-file.js';
import type { ActualOutcome, TestRun } from './run.js';

/**
 * The report for a person.
 *
 * @example
 * process.stdout.write(formatReport(run));
 * // deploy/examples/todo/tests/todo.yaml
 * //   ✓ reminder may read todos
 * // 1 case: 1 passed, 0 failed (1 file)
 */
export function formatReport(run: TestRun): string {
  const lines: string[] = [];
  for (const { file, results } of run.files) {
    lines.push(file);
    for (const result of results) {
      lines.push(`  ${result.passed ? '✓' : '✗'} ${result.name}`);
      if (result.passed) continue;
      lines.push(`      expected: ${describeExpected(result.expected)}`);
      lines.push(`      actual:   ${describeActual(result.actual)}`);
      lines.push(`      reason:   ${result.actual.reason}`);
      if (result.expected.shadow !== undefined) lines.push(`      shadow:   ${describeShadow(result.actual)}`);
      lines.push(`      differs:  ${result.differs.join(', ')}`);
    }
  }
  lines.push('', summaryLine(run));
  return `${lines.join('\n')}\n`;
}

/** `5 cases: 4 passed, 1 failed (2 files)`. */
export function summaryLine(run: TestRun): string {
  const total = run.passed + run.failed;
  return `${total} ${total === 1 ? 'case' : 'cases'}: ${run.passed} passed, ${run.failed} failed (${run.files.length} ${run.files.length === 1 ? 'file' : 'files'})`;
}

/** The report as data (`--json`). */
export function reportJson(run: TestRun): Record<string, unknown> {
  return {
    files: run.files.map(({ file, results }) => ({
      file,
      cases: results.map((result) => ({
        index: result.index,
        name: result.name,
        passed: result.passed,
        differs: result.differs,
        expected: result.expected,
        actual: result.actual,
      })),
    })),
    summary: { files: run.files.length, cases: run.passed + run.failed, passed: run.passed, failed: run.failed },
  };
}

function verdict(allowed: boolean): string {
  return allowed ? 'ALLOW' : 'DENY';
}

function describeExpected(expected: CaseExpectation): string {
  const parts = [verdict(expected.allowed)];
  if (expected.httpStatus !== undefined) parts.push(`status ${expected.httpStatus}`);
  if (expected.code !== undefined) parts.push(`code ${expected.code}`);
  if (expected.policy !== undefined) parts.push(`policy ${expected.policy}`);
  if (expected.rule !== undefined) parts.push(`rule ${expected.rule}`);
  if (expected.audited !== undefined) parts.push(`audited [${expected.audited.join(', ')}]`);
  const shadow = expected.shadow;
  if (shadow !== undefined) {
    const shadowParts = [
      shadow.allowed === undefined ? undefined : verdict(shadow.allowed),
      shadow.code,
      shadow.policy,
      shadow.rule === undefined ? undefined : `rule ${shadow.rule}`,
      shadow.diverged === undefined ? undefined : shadow.diverged ? 'diverged' : 'not diverged',
    ].filter((part) => part !== undefined);
    parts.push(`shadow ${shadowParts.join(' ') || '(evaluated)'}`);
  }
  return parts.join(', ');
}

function describeActual(actual: ActualOutcome): string {
  const decided = actual.policy === undefined ? '' : ` by ${actual.policy}${actual.rule === undefined ? '' : ` rule ${actual.rule}`}`;
  const audited = actual.audited.length > 0 ? `, audited [${actual.audited.join(', ')}]` : '';
  return `${verdict(actual.allowed)} (${actual.httpStatus} ${actual.code})${decided}${audited}`;
}

function describeShadow(actual: ActualOutcome): string {
  const shadow = actual.shadow;
  if (shadow === undefined) return 'no shadow policy applies to this request';
  const decided = shadow.policy === undefined ? '' : ` by ${shadow.policy}${shadow.rule === undefined ? '' : ` rule ${shadow.rule}`}`;
  return `${verdict(shadow.allowed)} (${shadow.code})${decided}, ${shadow.diverged ? 'diverged' : 'not diverged'}`;
}
