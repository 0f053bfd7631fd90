/**
 * `gatehouse check`: decide one request offline against a policy set and
 * explain the decision: which policy and rule matched, or why none did.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { Authorizer, type CheckOutcome } from '../authorizer.js';
import { toCheckRequest } from '../envoy/short-form.js';
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import { loadPolicySet, type ShadowOutcome } from '../policy/index.js';

export async function runCheck(configPath: string | undefined, requestFile: string | undefined, json: boolean): Promise<number> {
  if (!requestFile) {
    process.stderr.write('gatehouse check: name a request file, or - for stdin\n');
    return 2;
  }
  const config = await loadConfig(configPath ?? DEMO_CONFIG_PATH, {});
  const set = await loadPolicySet([...config.policies.paths], {
    rootNamespace: config.policies.rootNamespace,
    defaultNamespace: config.policies.defaultNamespace,
  });
  const text = requestFile === '-' ? await readStdin() : await readFile(requestFile, 'utf8');
  const outcome = await new Authorizer(config, { current: () => set }).check(toCheckRequest(parse(text)));
  process.stdout.write(json ? `${JSON.stringify(explain(outcome), null, 2)}\n` : formatExplanation(outcome));
  return outcome.decision.allowed ? 0 : 1;
}

/** The explanation as data (for --json). */
export function explain(outcome: CheckOutcome): Record<string, unknown> {
  const { decision, input } = outcome;
  return {
    allowed: decision.allowed,
    http_status: outcome.httpStatus,
    code: decision.code,
    reason: decision.reason,
    policy: decision.policy,
    rule: decision.rule,
    audited: decision.audited,
    peer: input?.peer?.principal,
    workload: input?.workload,
    policies: decision.trace,
    ...(outcome.shadow === undefined ? {} : { shadow: explainShadow(outcome.shadow) }),
  };
}

/** The shadow outcome as data: what the live set plus the shadow policies would decide. */
function explainShadow(shadow: ShadowOutcome): Record<string, unknown> {
  const { decision } = shadow;
  return {
    allowed: decision.allowed,
    code: decision.code,
    reason: decision.reason,
    policy: decision.policy,
    rule: decision.rule,
    diverged: shadow.diverged,
    shadow_policies: shadow.policies,
  };
}

/** The explanation for a person. */
export function formatExplanation(outcome: CheckOutcome): string {
  const { decision, input } = outcome;
  const lines = [`${decision.allowed ? 'ALLOW' : 'DENY'} (${outcome.httpStatus} ${decision.code})`, `  reason:   ${decision.reason}`];
  if (decision.policy) lines.push(`  decided:  ${decision.policy}${decision.rule !== undefined ? ` rule ${decision.rule}` : ''}`);
  if (input) {
    const { workload } = input;
    const labels = Object.entries(workload.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    lines.push(`  peer:     ${input.peer?.principal ?? '(none)'}${input.peer ? ` [${input.peer.source}]` : ''}`);
    lines.push(`  workload: namespace=${workload.namespace ?? '?'} serviceAccount=${workload.serviceAccount ?? '?'} labels={${labels}}`);
    lines.push(`  request:  ${input.request.method} ${input.request.host}${input.request.path}`);
  }
  if (decision.trace.length === 0) lines.push('  policies: none applied to this workload');
  for (const trace of decision.trace) {
    lines.push(`  - ${trace.action.padEnd(5)} ${trace.policy}: ${trace.matched ? `matched rule ${trace.rule}` : 'no rule matched'}`);
  }
  if (decision.audited.length > 0) lines.push(`  audited:  ${decision.audited.join(', ')}`);
  if (outcome.shadow) lines.push(...formatShadow(outcome.shadow));
  return `${lines.join('\n')}\n`;
}

/** The candidate outcome, under the live one: it never changes the answer above. */
function formatShadow(shadow: ShadowOutcome): string[] {
  const { decision } = shadow;
  const decided = decision.policy ? ` by ${decision.policy}${decision.rule !== undefined ? ` rule ${decision.rule}` : ''}` : '';
  return [
    `  shadow:   ${decision.allowed ? 'ALLOW' : 'DENY'} (${decision.code})${decided}${shadow.diverged ? ', DIVERGES from the live decision' : ', same as the live decision'}`,
    `            ${decision.reason}`,
    `            shadow policies applying: ${shadow.policies.join(', ')}`,
  ];
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
