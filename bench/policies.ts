/**
 * Policy sets the benchmarks generate: the todo demo's policies, and larger
 * sets of principal-based ALLOW rules spread over many workloads, written as
 * the Istio AuthorizationPolicy YAML a platform team would keep.
 */

export interface PolicyFile {
  readonly name: string;
  readonly text: string;
}

interface PolicySpec {
  readonly name: string;
  readonly namespace: string;
  readonly action: 'ALLOW' | 'DENY';
  readonly app?: string;
  readonly rules: readonly string[];
}

function policyYaml(spec: PolicySpec): string {
  const selector = spec.app === undefined ? '' : `  selector: { matchLabels: { app: ${spec.app} } }\n`;
  return [
    'apiVersion: security.istio.io/v1',
    'kind: AuthorizationPolicy',
    `metadata: { name: ${spec.name}, namespace: ${spec.namespace} }`,
    'spec:',
    `${selector}  action: ${spec.action}`,
    '  rules:',
    ...spec.rules,
    '',
  ].join('\n');
}

/** One rule: these principals may call these methods on these paths. */
function principalRule(principals: readonly string[], methods: readonly string[], paths: readonly string[]): string {
  return `    - from: [{ source: { principals: [${principals.join(', ')}] } }]\n      to: [{ operation: { methods: [${methods.join(', ')}], paths: [${paths.join(', ')}] } }]`;
}

const METHOD_SETS = [['GET'], ['GET', 'HEAD'], ['GET', 'POST'], ['PUT', 'PATCH'], ['DELETE']] as const;

/**
 * The todo demo's policies (deploy/examples/todo): reminder and share may GET
 * todos; todos may not call reminder. The fixed request is allowed by
 * `default/todos-viewer-allow`, through a rule keyed by its principal.
 */
export function demoPolicies(): PolicyFile[] {
  return [
    {
      name: 'todos.yaml',
      text: policyYaml({
        name: 'todos-viewer-allow',
        namespace: 'default',
        action: 'ALLOW',
        app: 'todos',
        rules: [
          principalRule(['cluster.local/ns/default/sa/reminder', 'cluster.local/ns/default/sa/share'], ['GET'], ['/todos', '/todos/*']),
        ],
      }),
    },
    {
      name: 'reminder.yaml',
      text: policyYaml({
        name: 'reminder-deny-todos',
        namespace: 'default',
        action: 'DENY',
        app: 'reminder',
        rules: [principalRule(['cluster.local/ns/default/sa/todos'], ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], ['/*'])],
      }),
    },
  ];
}

/**
 * `ruleCount` ALLOW rules (a multiple of 10) in 10-rule policies, one per
 * selected app: five policies in namespace `default`, two of them selecting
 * `app: todos` (so they apply to the fixed request and are visited before
 * the demo policy, without matching it). Every rule names a distinct principal.
 */
export function throughputPolicies(ruleCount = 50): PolicyFile[] {
  const apps = ['todos', 'todos', 'reminder', 'share', 'billing', 'search', 'notify', 'audit-log', 'export', 'profile'];
  const files: PolicyFile[] = [];
  let principal = 0;
  for (let p = 0; p < ruleCount / 10; p++) {
    const app = apps[p % apps.length] as string;
    const rules: string[] = [];
    for (let r = 0; r < 10; r++, principal++) {
      const methods = METHOD_SETS[principal % METHOD_SETS.length] as readonly string[];
      rules.push(
        principalRule([`cluster.local/ns/team-${principal % 7}/sa/client-${principal}`], methods, [`/api/v${1 + (r % 2)}/${app}/*`]),
      );
    }
    files.push({
      name: `bench-${p}.yaml`,
      text: policyYaml({ name: `access-${app}-${p}`, namespace: 'default', action: 'ALLOW', app, rules }),
    });
  }
  return files;
}

/** A generated mesh: where the fixed request's own rule sits, and the workload entries for the config. */
export interface GeneratedMesh {
  readonly files: PolicyFile[];
  readonly workloads: { namespace: string; serviceAccount: string; app: string }[];
  readonly ruleCount: number;
  /** The policy expected to allow the fixed request. */
  readonly expectedPolicy: string;
}

/**
 * A mesh with `ruleCount` ALLOW rules (a multiple of 10): one workload per 10
 * rules, 10 workloads per namespace (`default` first, holding `todos`), each
 * with one ALLOW policy of 10 principal rules naming callers from other
 * namespaces. The fixed request's rule (reminder → todos, GET /todos/*) is
 * rule 7 of the todos policy. Plus one mesh-wide DENY in the root namespace
 * whose rule is not keyed by principal, so it is checked on every request.
 */
export function generatedMesh(ruleCount: number): GeneratedMesh {
  if (ruleCount < 10 || ruleCount % 10 !== 0) throw new Error('ruleCount must be a positive multiple of 10');
  const workloadCount = ruleCount / 10;
  const namespaceCount = Math.ceil(workloadCount / 10);
  const namespaceOf = (n: number) => (n === 0 ? 'default' : `team-${n}`);
  const files: PolicyFile[] = [
    {
      name: '00-mesh.yaml',
      text: policyYaml({
        name: 'deny-quarantined',
        namespace: 'istio-system',
        action: 'DENY',
        rules: ['    - from: [{ source: { namespaces: [quarantine] } }]'],
      }),
    },
  ];
  const workloads: GeneratedMesh['workloads'] = [];
  let callerSeed = 0;
  for (let w = 0; w < workloadCount; w++) {
    const namespace = namespaceOf(Math.floor(w / 10));
    const app = w === 0 ? 'todos' : `svc-${w}`;
    workloads.push({ namespace, serviceAccount: app, app });
    const rules: string[] = [];
    for (let r = 0; r < 10; r++, callerSeed++) {
      if (w === 0 && r === 7) {
        rules.push(principalRule(['cluster.local/ns/default/sa/reminder'], ['GET'], ['/todos', '/todos/*']));
        continue;
      }
      const callerNamespace = namespaceOf((callerSeed * 7 + 3) % Math.max(namespaceCount, 2));
      const methods = METHOD_SETS[callerSeed % METHOD_SETS.length] as readonly string[];
      rules.push(principalRule([`cluster.local/ns/${callerNamespace}/sa/caller-${callerSeed}`], methods, [`/${app}/v${1 + (r % 3)}/*`]));
    }
    files.push({ name: `${namespace}-${app}.yaml`, text: policyYaml({ name: `${app}-allow`, namespace, action: 'ALLOW', app, rules }) });
  }
  return { files, workloads, ruleCount, expectedPolicy: 'default/todos-allow' };
}
