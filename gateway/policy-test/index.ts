/**
 * Policy tests (`gatehouse test`, docs/policy-tests.md): case files in,
 * a report out. Other folders use only what is exported here.
 *
 * @example
 * const files = await Promise.all((await findCaseFiles(['tests/'])).map(readCaseFile));
 * const run = await runCaseFiles(files, { config, policies: store });
 * process.stdout.write(formatReport(run));
 */
export { findCaseFiles, parseCaseFile, readCaseFile, caseFileLimits } from './case-file.js';
export type { CaseAuth, CaseExpectation, CaseFile, PolicyTestCase, ShadowExpectation } from './case-file.js';
export { CaseAuthenticator } from './case-authenticator.js';
export { runCase, runCaseFiles } from './run.js';
export type { ActualOutcome, CaseResult, FileResult, PolicyTestTarget, TestRun } from './run.js';
export { formatReport, reportJson, summaryLine } from './report.js';
export { casesFromDecisionLog, renderCaseFile } from './from-log.js';
export type { CasesFromLog, RecordedCase, SkippedDecision } from './from-log.js';
