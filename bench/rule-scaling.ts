/**
 * Rule scaling: in-process decision time for the fixed request as the policy
 * set grows from 10 to 10,000 rules over more and more workloads and
 * namespaces. Measures the compiled engine's `evaluate` alone, and the whole
 * Check pipeline without gRPC (`Authorizer.check`: decode, evaluate, plan).
 */
import { Authorizer } from '../gateway/authorizer.js';
import { parseConfig } from '../gateway/config/load.js';
import { createDecodeContext, decodeCheckRequest } from '../gateway/envoy/decode.js';
import type { RawCheckRequest } from '../gateway/envoy/check-request.js';
import { compilePolicySet, evaluate, evaluateWithStats, parsePolicyDocuments, type CompiledPolicySet } from '../gateway/policy/index.js';
import type { CheckInput } from '../gateway/request/model.js';
import { configYaml } from './gatehouse-fixture.js';
import { decodedFixedCheckRequest } from './fixed-request.js';
import { generatedMesh } from './policies.js';
import { table, type BenchmarkReport } from './report.js';
import { formatNumber, formatRatio, formatSummary, summarize, type Summary } from './stats.js';

export interface RuleScalingOptions {
  readonly sizes: readonly number[];
  readonly rounds: number;
  /** Decisions per size per round. */
  readonly iterations: number;
}

export const RULE_SCALING_DEFAULTS: RuleScalingOptions = { sizes: [10, 100, 1_000, 10_000], rounds: 9, iterations: 40_000 };
const TARGET_RATIO = 1.2;

interface Subject {
  readonly rules: number;
  readonly policies: number;
  readonly namespaces: number;
  readonly set: CompiledPolicySet;
  readonly input: CheckInput;
  readonly authorizer: Authorizer;
  readonly visited: string;
}

export async function runRuleScaling(options: RuleScalingOptions, log: (line: string) => void): Promise<BenchmarkReport> {
  const raw = decodedFixedCheckRequest() as RawCheckRequest;
  const subjects = options.sizes.map((size) => prepare(size, raw));
  const evaluateNs = new Map<number, number[]>(subjects.map((s) => [s.rules, []]));
  const checkNs = new Map<number, number[]>(subjects.map((s) => [s.rules, []]));

  // Warm-up: every size through both paths, so the JIT has seen all of them before timing.
  for (const subject of subjects) {
    timeEvaluate(subject, options.iterations);
    await timeCheck(subject, options.iterations / 4);
  }
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order each round so no size always runs first or last.
    const order = subjects.map((_, i) => subjects[(i + round) % subjects.length] as Subject);
    for (const subject of order) {
      evaluateNs.get(subject.rules)!.push(timeEvaluate(subject, options.iterations));
      checkNs.get(subject.rules)!.push(await timeCheck(subject, options.iterations / 4));
    }
    log(`rule scaling round ${round + 1}/${options.rounds} done`);
  }

  const evaluateSummaries = subjects.map((s) => summarize(evaluateNs.get(s.rules)!));
  const checkSummaries = subjects.map((s) => summarize(checkNs.get(s.rules)!));
  const ratios = (summaries: Summary[]) => summaries.map((summary) => summary.median / (summaries[0] as Summary).median);
  const evaluateRatios = ratios(evaluateSummaries);
  const checkRatios = ratios(checkSummaries);
  const worst = Math.max(...evaluateRatios);
  const worstCheck = Math.max(...checkRatios);

  const markdown = [
    table(
      [
        'rules',
        'policies',
        'namespaces',
        'visited per decision',
        'evaluate ns/decision: median (min–max)',
        'ratio to 10',
        'Authorizer.check ns/decision: median (min–max)',
        'ratio to 10',
      ],
      subjects.map((subject, i) => [
        formatNumber(subject.rules),
        formatNumber(subject.policies),
        formatNumber(subject.namespaces),
        subject.visited,
        formatSummary(evaluateSummaries[i] as Summary),
        formatRatio(evaluateRatios[i] as number),
        formatSummary(checkSummaries[i] as Summary),
        formatRatio(checkRatios[i] as number),
      ]),
    ),
    '',
    'Command: `npm run bench`, or just this benchmark: `npm run build && node dist/bench/run.js --only rule-scaling`.',
    '',
    `- In one process, importing the compiled engine (dist/gateway/policy, dist/gateway/authorizer.js). The fixed CheckRequest is serialized and decoded by proto-loader as the server would receive it, then decoded once into a CheckInput for \`evaluate\`; \`Authorizer.check\` decodes it on every call (including a random decision id) and plans the response.`,
    `- The policy set for N rules: N/10 workloads, 10 per namespace (\`default\` first), each with one ALLOW policy selecting \`app: <workload>\` with 10 rules naming callers from other namespaces by principal; the request's own rule (reminder → todos, GET /todos/*) is rule 7 of \`default/todos-allow\`. Plus one mesh-wide DENY in istio-system whose rule is not keyed by principal. Written as YAML, parsed and compiled by \`parsePolicyDocuments\` + \`compilePolicySet\`.`,
    `- ${options.rounds} rounds, sizes in rotating order; each round times ${formatNumber(options.iterations)} evaluate calls and ${formatNumber(options.iterations / 4)} Authorizer.check calls per size with process.hrtime.bigint, after one warm-up round. Every decision is checked to be an allow by \`default/todos-allow\`.`,
    `- "visited" is evaluateWithStats' count of policies that apply to the workload / rules whose checks ran.`,
  ].join('\n');
  return {
    name: 'rule-scaling',
    title: 'Rule scaling',
    targets: [
      {
        target: `decision time flat within ${TARGET_RATIO}× from 10 to ${formatNumber(options.sizes[options.sizes.length - 1] ?? 0)} rules`,
        result: `evaluate: worst ${formatRatio(worst)}; Authorizer.check: worst ${formatRatio(worstCheck)}`,
        met: worst <= TARGET_RATIO,
      },
    ],
    markdown,
  };
}

function prepare(size: number, raw: RawCheckRequest): Subject {
  const mesh = generatedMesh(size);
  const loaded = parsePolicyDocuments(
    mesh.files.map((file) => ({ file: file.name, text: file.text })),
    { rootNamespace: 'istio-system', defaultNamespace: 'default' },
  );
  const set = compilePolicySet(loaded, { rootNamespace: 'istio-system' });
  const config = parseConfig(configYaml(mesh.workloads), 'bench/gatehouse.yaml', {});
  const decoded = decodeCheckRequest(raw, createDecodeContext(config));
  if (!decoded.ok) throw new Error(`the fixed request does not decode: ${decoded.reason}`);
  const { decision, stats } = evaluateWithStats(set, decoded.input);
  if (!decision.allowed || decision.policy !== mesh.expectedPolicy) {
    throw new Error(`${size} rules: expected an allow by ${mesh.expectedPolicy}, got ${decision.code} (${decision.reason})`);
  }
  return {
    rules: size,
    policies: set.policyCount,
    namespaces: set.byNamespace.size,
    set,
    input: decoded.input,
    authorizer: new Authorizer(config, { current: () => set }),
    visited: `${stats.policiesVisited} / ${stats.rulesVisited}`,
  };
}

/** Mean ns per `evaluate` over `iterations` calls. */
function timeEvaluate(subject: Subject, iterations: number): number {
  let allowed = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (evaluate(subject.set, subject.input).allowed) allowed++;
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  if (allowed !== iterations) throw new Error(`${subject.rules} rules: ${iterations - allowed} decisions were not allows`);
  return ns;
}

/** Mean ns per `Authorizer.check` over `iterations` calls. */
async function timeCheck(subject: Subject, iterations: number): Promise<number> {
  const raw = decodedFixedCheckRequest() as RawCheckRequest;
  let allowed = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if ((await subject.authorizer.check(raw)).decision.allowed) allowed++;
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  if (allowed !== iterations) throw new Error(`${subject.rules} rules: ${iterations - allowed} checks were not allows`);
  return ns;
}
