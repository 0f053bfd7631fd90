/**
 * `gatehouse validate`: lints a policy set and reports the first error with
 * file, document and field, or a summary of what was loaded.
 */
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import { loadPolicySet } from '../policy/index.js';

export async function runValidate(configPath: string | undefined, paths: string[]): Promise<number> {
  const config = await loadConfig(configPath ?? DEMO_CONFIG_PATH, {});
  const targets = paths.length > 0 ? paths : [...config.policies.paths];
  try {
    const set = await loadPolicySet(targets, {
      rootNamespace: config.policies.rootNamespace,
      defaultNamespace: config.policies.defaultNamespace,
    });
    process.stdout.write(`ok: ${set.policyCount} policies, ${set.ruleCount} rules\n`);
    for (const skipped of set.skipped) {
      process.stdout.write(
        `  skipped ${skipped.file}#${skipped.documentIndex} ${skipped.kind}${skipped.name ? ` ${skipped.name}` : ''}: ${skipped.note}\n`,
      );
    }
    return 0;
  } catch (error) {
    process.stderr.write(`invalid: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
