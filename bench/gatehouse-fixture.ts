/**
 * Gatehouse configurations for the benchmarks, written to a temporary folder:
 * a config file like the todo demo's plus a policies folder.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoPolicies, type PolicyFile } from './policies.js';

/** The todo demo shipped with Gatehouse. */
export const DEMO_DIR = fileURLToPath(new URL('../../deploy/examples/todo/', import.meta.url));
export const DEMO_CONFIG = path.join(DEMO_DIR, 'gatehouse.yaml');

export interface WorkloadLabel {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly app: string;
}

/** The demo's workloads: todos, reminder and share in namespace default. */
export const DEMO_WORKLOADS: readonly WorkloadLabel[] = ['todos', 'reminder', 'share'].map((app) => ({
  namespace: 'default',
  serviceAccount: app,
  app,
}));

/**
 * The demo's policy files: those in deploy/examples/todo/policies when the
 * folder exists, otherwise the benchmark's own copy of them.
 */
export function demoPolicyFiles(): { files: PolicyFile[]; origin: string } {
  const folder = path.join(DEMO_DIR, 'policies');
  if (!existsSync(folder))
    return { files: demoPolicies(), origin: "the benchmark's copy of the demo policies (deploy/examples/todo/policies does not exist)" };
  const names = readdirSync(folder).filter((name) => /\.(ya?ml|json)$/i.test(name));
  return {
    files: names.map((name) => ({ name: `demo-${name}`, text: readFileSync(path.join(folder, name), 'utf8') })),
    origin: 'deploy/examples/todo/policies',
  };
}

/** The YAML of a Gatehouse config (the port comes from $PORT). */
export function configYaml(workloads: readonly WorkloadLabel[], logLevel = 'warn'): string {
  return [
    'listen: { host: 127.0.0.1, port: 9191 }',
    'policies: { paths: [./policies], rootNamespace: istio-system, defaultNamespace: default, watch: true }',
    'identity: { trustDomains: [cluster.local] }',
    'workloads:',
    ...workloads.map(
      (w) => `  - { namespace: ${w.namespace}, serviceAccount: ${w.serviceAccount}, labels: { app: ${w.app} }, service: ${w.app} }`,
    ),
    `log: { level: ${logLevel} }`,
    '',
  ].join('\n');
}

/** Writes `<tmp>/gatehouse.yaml` and `<tmp>/policies/*`; returns the config file path. */
export async function writeGatehouseFixture(config: string, policies: readonly PolicyFile[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-bench-'));
  await mkdir(path.join(dir, 'policies'));
  for (const file of policies) await writeFile(path.join(dir, 'policies', file.name), file.text);
  const configFile = path.join(dir, 'gatehouse.yaml');
  await writeFile(configFile, config);
  return configFile;
}
