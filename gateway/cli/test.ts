/**
 * `gatehouse test`: runs policy test case files against the configuration's
 * policy set and reports per case (exit 0 all pass, 1 a case failed, 2 the
 * cases or the configuration are invalid); with `--from-log`, turns recorded
 * decisions into a case file instead. See docs/policy-tests.md.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import { ValidationError } from '../errors.js';
import { createLogger } from '../log.js';
import { PolicyStore, policyStoreOptions } from '../policy/watch.js';
import {
  casesFromDecisionLog,
  findCaseFiles,
  formatReport,
  readCaseFile,
  renderCaseFile,
  reportJson,
  runCaseFiles,
  type CaseFile,
} from '../policy-test/index.js';

export interface TestCommandOptions {
  readonly json: boolean;
  /** A decision log to convert into cases (`-` reads stdin). */
  readonly fromLog?: string;
  /** Where `--from-log` writes the case file; stdout when absent. */
  readonly out?: string;
}

const EXIT_PASSED = 0;
const EXIT_FAILED = 1;
const EXIT_INVALID = 2;

export async function runTest(configPath: string | undefined, paths: readonly string[], options: TestCommandOptions): Promise<number> {
  if (options.fromLog !== undefined) {
    if (paths.length > 0) return usage('--from-log reads a decision log and writes cases; it takes no case files');
    return convertLog(options.fromLog, options.out);
  }
  if (options.out !== undefined) return usage('--out goes with --from-log');
  if (paths.length === 0) return usage('name case files or folders of them');
  try {
    const config = await loadConfig(configPath ?? DEMO_CONFIG_PATH, {});
    const policies = await PolicyStore.open(config.policies.paths, policyStoreOptions(config), createLogger('silent'));
    const files = await readAll(paths);
    if (files === undefined) return EXIT_INVALID;
    const run = await runCaseFiles(files, { config, policies });
    process.stdout.write(options.json ? `${JSON.stringify(reportJson(run), null, 2)}\n` : formatReport(run));
    return run.failed === 0 ? EXIT_PASSED : EXIT_FAILED;
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    process.stderr.write(`gatehouse test: ${error.message}\n`);
    return EXIT_INVALID;
  }
}

/** Every case file, or undefined after reporting every invalid one (each names file, case and field). */
async function readAll(paths: readonly string[]): Promise<CaseFile[] | undefined> {
  const files: CaseFile[] = [];
  let invalid = false;
  for (const file of await findCaseFiles(paths)) {
    try {
      files.push(await readCaseFile(file));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      process.stderr.write(`invalid case file: ${error.message}\n`);
      invalid = true;
    }
  }
  if (files.length === 0 && !invalid) {
    process.stderr.write(`gatehouse test: no case files (*.yaml, *.yml, *.json) in ${paths.join(', ')}\n`);
    return undefined;
  }
  return invalid ? undefined : files;
}

async function convertLog(log: string, out: string | undefined): Promise<number> {
  let text: string;
  try {
    text = log === '-' ? await readStdin() : await readFile(log, 'utf8');
  } catch (error) {
    process.stderr.write(`gatehouse test: cannot read ${log} (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`);
    return EXIT_INVALID;
  }
  const converted = casesFromDecisionLog(text);
  for (const { line, decisionId, reason } of converted.skipped) {
    process.stderr.write(`skipped ${log}:${line} decision ${decisionId}: ${reason}\n`);
  }
  if (converted.cases.length === 0) {
    process.stderr.write(`gatehouse test: no decision in ${log} could become a case\n`);
    return EXIT_INVALID;
  }
  const yaml = renderCaseFile(converted, log === '-' ? 'stdin' : log);
  if (out === undefined) process.stdout.write(yaml);
  else await writeFile(out, yaml);
  process.stderr.write(
    `wrote ${converted.cases.length} ${converted.cases.length === 1 ? 'case' : 'cases'}${out === undefined ? '' : ` to ${out}`}; skipped ${converted.skipped.length}\n`,
  );
  return EXIT_PASSED;
}

function usage(problem: string): number {
  process.stderr.write(
    `gatehouse test: ${problem}\nUsage: gatehouse test [-c config.yaml] [--json] <case files or folders...>\n       gatehouse test --from-log <decisions.jsonl> [--out cases.yaml]\n`,
  );
  return EXIT_INVALID;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
