/**
 * `gatehouse validate`: lints a policy set (AuthorizationPolicy,
 * RequestAuthentication, DelegationPolicy and KubernetesAccessPolicy
 * documents) and reports the first error with file,
 * document and field, or a summary of what was loaded.
 */
import { issuerExtensions } from '../config/issuers.js';
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import { compileRequestAuthentications, parseRequestAuthentications } from '../identity/index.js';
import { KubernetesAuthorizer, parseKubernetesAccessPolicies } from '../kubernetes/index.js';
import {
  compileDelegationPolicies,
  compilePolicySet,
  parseDelegationPolicies,
  parsePolicyDocuments,
  readPolicySources,
} from '../policy/index.js';

export async function runValidate(configPath: string | undefined, paths: string[]): Promise<number> {
  const config = await loadConfig(configPath ?? DEMO_CONFIG_PATH, {});
  const targets = paths.length > 0 ? paths : [...config.policies.paths];
  const options = { rootNamespace: config.policies.rootNamespace, defaultNamespace: config.policies.defaultNamespace };
  try {
    const sources = await readPolicySources(targets);
    const set = compilePolicySet(parsePolicyDocuments(sources, options), options);
    const authentication = compileRequestAuthentications(
      parseRequestAuthentications(sources, options),
      issuerExtensions(config.jwt),
      options,
    );
    const delegation = compileDelegationPolicies(parseDelegationPolicies(sources, options), {
      ...options,
      maxDepth: config.delegation.maxDepth,
    });
    // The Kubernetes webhook's documents live in the same folders; break-glass subjects come from its own configuration.
    const kubernetes = KubernetesAuthorizer.compile(parseKubernetesAccessPolicies(sources, options), { users: [], groups: [] });
    process.stdout.write(
      `ok: ${set.policyCount} policies, ${set.ruleCount} rules; ${authentication.documentCount} request authentications, ${authentication.ruleCount} issuer rules; ${delegation.policyCount} delegation policies, ${delegation.ruleCount} delegation rules; ${kubernetes.policyCount} kubernetes access policies, ${kubernetes.ruleCount} kubernetes access rules\n`,
    );
    for (const skipped of set.skipped) {
      process.stdout.write(
        `  skipped ${skipped.file}#${skipped.documentIndex} ${skipped.kind}${skipped.name ? ` ${skipped.name}` : ''}: ${skipped.note}\n`,
      );
    }
    for (const policy of set.shadow?.policies ?? []) {
      process.stdout.write(`  shadow ${policy.id} ${policy.action}: evaluated and logged, not enforced\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`invalid: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
