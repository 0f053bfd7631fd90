/**
 * Every YAML file under deploy/ is validated against its schema, not only
 * parsed, and a document of a kind nothing here can validate fails, so a new
 * kind cannot slip in unchecked:
 *
 * - Kubernetes, Istio and Knative objects: kubernetes-models' JSON schemas and
 *   TypeScript interfaces (test/helpers/kubernetes-schemas.ts);
 * - Gatehouse's own documents and configuration files: the loaders the
 *   commands use (policy kinds, gatehouse.yaml, token-exchange.yaml,
 *   kubernetes-webhook.yaml, short-form Check requests);
 * - kube-apiserver's kubeconfig and AuthorizationConfiguration, Istio's
 *   MeshConfig: no npm package has their schema, so strict shapes below;
 * - kustomizations: built (test/helpers/kustomize.ts), every listed file must
 *   exist, and the built objects are validated and cross-checked (volumes,
 *   selectors, and every file a mounted configuration names is mounted).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseCel } from '@marcbachmann/cel-js';
import test from 'ava';
import { readFileSync } from 'node:fs';
import { issuerExtensions } from '../../gateway/config/issuers.js';
import { parseConfig } from '../../gateway/config/load.js';
import { toCheckRequest } from '../../gateway/envoy/short-form.js';
import { compileRequestAuthentications, parseRequestAuthentications } from '../../gateway/identity/index.js';
import { KubernetesAuthorizer, parseKubernetesAccessPolicies } from '../../gateway/kubernetes/index.js';
import { parseCaseFile } from '../../gateway/policy-test/index.js';
import {
  compileDelegationPolicies,
  compilePolicySet,
  parseDelegationPolicies,
  parseDocuments,
  parsePolicyDocuments,
  readHeader,
  type PolicyDocumentSource,
} from '../../gateway/policy/index.js';
import { parseKubernetesWebhookConfig } from '../../services/kubernetes-webhook/config.js';
import { parseTokenExchangeConfig } from '../../services/token-exchange/config.js';
import { validateKubernetesDocuments, type KubernetesDocument } from '../helpers/kubernetes-schemas.js';
import { buildKustomization, podSpecOf, readDocuments, type KubernetesObject } from '../helpers/kustomize.js';
import { checkShape, type Shape } from '../helpers/strict-shape.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const deployRoot = path.join(repoRoot, 'deploy');
const relative = (file: string): string => path.relative(repoRoot, file);

/** Files without `kind` and what checks them; any other kind-less file fails. */
const KINDLESS_FILES: Record<string, (file: string) => void> = {
  // Envoy's bootstraps: test/deploy/envoy-bootstrap.test.ts checks them against Envoy's protos.
  'deploy/envoy/envoy.yaml': () => undefined,
  'deploy/kubernetes-front-proxy/envoy.yaml': () => undefined,
  'deploy/kubernetes-front-proxy/gatehouse.yaml': (file) => void parseConfig(readFileSync(file, 'utf8'), file),
  'deploy/examples/todo/gatehouse.yaml': (file) => void parseConfig(readFileSync(file, 'utf8'), file),
  // Policy test cases: test/gateway/cli/test-command.test.ts also runs them with gatehouse test.
  'deploy/examples/todo/tests/todo.yaml': (file) => void parseCaseFile(readFileSync(file, 'utf8'), file),
};
const REQUEST_FOLDER = 'deploy/examples/todo/requests/';

/** What a configMapGenerator's files are, by the generator's name. */
function checkGenerated(name: string, files: readonly string[]): void {
  const read = (file: string): string => readFileSync(file, 'utf8');
  if (name === 'gatehouse-config') files.forEach((file) => parseConfig(read(file), file));
  else if (name === 'token-exchange-config') files.forEach((file) => parseTokenExchangeConfig(read(file), file));
  else if (name === 'kubernetes-webhook-config') files.forEach((file) => parseKubernetesWebhookConfig(read(file), file));
  else if (name.endsWith('-policies')) checkPolicyFiles(files.map((file) => ({ file, text: read(file) })));
  else throw new Error(`configMapGenerator ${name}: no check for what it holds (add one to checkGenerated)`);
}

/** The kinds Gatehouse reads from policy files, each validated by the loader that reads it. */
const POLICY_KINDS = new Set([
  'security.istio.io/AuthorizationPolicy',
  'security.istio.io/RequestAuthentication',
  'gatehouse.dev/DelegationPolicy',
  'gatehouse.dev/KubernetesAccessPolicy',
]);

function checkPolicyFiles(sources: PolicyDocumentSource[]): void {
  for (const source of sources) {
    for (const { document, origin } of parseDocuments(source)) {
      const header = readHeader(document, origin);
      if (!POLICY_KINDS.has(`${header.group}/${header.kind}`))
        throw new Error(`${source.file}#${origin.documentIndex}: ${header.kind} is not a policy kind Gatehouse reads`);
    }
  }
  compilePolicySet(parsePolicyDocuments(sources));
  compileRequestAuthentications(parseRequestAuthentications(sources), issuerExtensions(parseConfig('', 'defaults.yaml').jwt));
  compileDelegationPolicies(parseDelegationPolicies(sources));
  KubernetesAuthorizer.compile(parseKubernetesAccessPolicies(sources), { users: [], groups: [] });
}

// kube-apiserver's files: no npm package carries their schema, so these
// shapes follow k8s.io/client-go/tools/clientcmd/api/v1 (Config) and
// k8s.io/apiserver/pkg/apis/apiserver/v1 (AuthorizationConfiguration), for
// the fields a webhook configuration uses, and reject anything else.
const KUBECONFIG: Shape = {
  fields: {
    apiVersion: { enum: ['v1'] },
    kind: { enum: ['Config'] },
    clusters: {
      minItems: 1,
      list: {
        fields: {
          name: 'string',
          cluster: {
            fields: {
              server: 'string',
              'certificate-authority': 'string',
              'certificate-authority-data': 'string',
              'tls-server-name': 'string',
            },
            required: ['server'],
          },
        },
        required: ['name', 'cluster'],
      },
    },
    users: {
      minItems: 1,
      list: {
        fields: {
          name: 'string',
          user: {
            fields: {
              'client-certificate': 'string',
              'client-key': 'string',
              'client-certificate-data': 'string',
              'client-key-data': 'string',
            },
          },
        },
        required: ['name', 'user'],
      },
    },
    contexts: {
      minItems: 1,
      list: {
        fields: { name: 'string', context: { fields: { cluster: 'string', user: 'string' }, required: ['cluster', 'user'] } },
        required: ['name', 'context'],
      },
    },
    'current-context': 'string',
  },
  required: ['apiVersion', 'kind', 'clusters', 'users', 'contexts', 'current-context'],
};

const AUTHORIZATION_CONFIGURATION: Shape = {
  fields: {
    apiVersion: { enum: ['apiserver.config.k8s.io/v1', 'apiserver.config.k8s.io/v1beta1'] },
    kind: { enum: ['AuthorizationConfiguration'] },
    authorizers: {
      minItems: 1,
      list: {
        fields: {
          type: { enum: ['Node', 'RBAC', 'ABAC', 'AlwaysAllow', 'AlwaysDeny', 'Webhook'] },
          name: 'string',
          webhook: {
            fields: {
              authorizedTTL: 'duration',
              unauthorizedTTL: 'duration',
              timeout: 'duration',
              subjectAccessReviewVersion: { enum: ['v1', 'v1beta1'] },
              matchConditionSubjectAccessReviewVersion: { enum: ['v1'] },
              failurePolicy: { enum: ['NoOpinion', 'Deny'] },
              connectionInfo: {
                fields: { type: { enum: ['KubeConfigFile', 'InClusterConfig'] }, kubeConfigFile: 'string' },
                required: ['type'],
              },
              matchConditions: { list: { fields: { expression: 'string' }, required: ['expression'] } },
            },
            required: [
              'timeout',
              'subjectAccessReviewVersion',
              'matchConditionSubjectAccessReviewVersion',
              'failurePolicy',
              'connectionInfo',
            ],
          },
        },
        required: ['type', 'name'],
      },
    },
  },
  required: ['apiVersion', 'kind', 'authorizers'],
};

/** The parts of istio.mesh.v1alpha1.MeshConfig the deploy files set (path normalization, the ext_authz provider), in an IstioOperator (whose CRD leaves spec open). */
const ISTIO_OPERATOR_SPEC: Shape = {
  fields: {
    meshConfig: {
      fields: {
        pathNormalization: {
          fields: { normalization: { enum: ['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] } },
        },
        extensionProviders: {
          list: {
            fields: {
              name: 'string',
              envoyExtAuthzGrpc: {
                fields: {
                  service: 'string',
                  port: 'integer',
                  timeout: 'duration',
                  failOpen: 'boolean',
                  statusOnError: 'string',
                  includeRequestBodyInCheck: {
                    fields: { maxRequestBytes: 'integer', allowPartialMessage: 'boolean', packAsBytes: 'boolean' },
                  },
                },
                required: ['service', 'port'],
              },
            },
            required: ['name', 'envoyExtAuthzGrpc'],
          },
        },
      },
    },
  },
};

/** Problems of a kube-apiserver or Istio document the strict shapes cover, or undefined for other kinds. */
function checkUnschemaed(document: Record<string, unknown>): string[] | undefined {
  if (document.apiVersion === 'v1' && document.kind === 'Config') {
    const problems = checkShape(document, KUBECONFIG);
    const names = (key: string): string[] => ((document[key] as { name?: string }[] | undefined) ?? []).map((entry) => String(entry.name));
    for (const context of (document.contexts as { context?: { cluster?: string; user?: string } }[] | undefined) ?? []) {
      if (!names('clusters').includes(String(context.context?.cluster)))
        problems.push(`contexts: cluster ${context.context?.cluster} is not defined`);
      if (!names('users').includes(String(context.context?.user))) problems.push(`contexts: user ${context.context?.user} is not defined`);
    }
    if (!names('contexts').includes(String(document['current-context']))) problems.push('current-context: names no context');
    for (const cluster of (document.clusters as { cluster?: { server?: string } }[] | undefined) ?? []) {
      if (!String(cluster.cluster?.server).startsWith('https://'))
        problems.push(`clusters: server ${cluster.cluster?.server} is not https`);
    }
    return problems;
  }
  if (document.kind === 'AuthorizationConfiguration') {
    const problems = checkShape(document, AUTHORIZATION_CONFIGURATION);
    for (const authorizer of (document.authorizers as
      { type?: string; webhook?: { matchConditions?: { expression?: string }[] } }[] | undefined) ?? []) {
      if ((authorizer.type === 'Webhook') !== (authorizer.webhook !== undefined))
        problems.push(`authorizers: webhook must be set exactly when type is Webhook`);
      for (const condition of authorizer.webhook?.matchConditions ?? []) {
        try {
          parseCel(String(condition.expression));
        } catch (error) {
          problems.push(`matchConditions: ${condition.expression}: ${(error as Error).message.split('\n')[0]}`);
        }
      }
    }
    return problems;
  }
  if (document.apiVersion === 'install.istio.io/v1alpha1' && document.kind === 'IstioOperator')
    return checkShape(document.spec, ISTIO_OPERATOR_SPEC, 'spec');
  return undefined;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(full);
    return /\.(ya?ml|kubeconfig)$/.test(entry.name) ? [full] : [];
  });
}

interface Findings {
  problems: string[];
  /** Kubernetes, Istio and Knative documents for the models. */
  documents: KubernetesDocument[];
}

/** Validates one file's documents (other than kustomize's inputs), collecting what the models must check. */
function checkFile(file: string, findings: Findings): void {
  const name = relative(file);
  const fail = (problem: string): void => void findings.problems.push(`${name}: ${problem}`);
  let documents: unknown[];
  try {
    documents = readDocuments(file);
  } catch (error) {
    return fail((error as Error).message);
  }
  if (documents.every((document) => typeof document !== 'object' || document === null || !('kind' in document))) {
    const check =
      KINDLESS_FILES[name] ??
      (name.startsWith(REQUEST_FOLDER) ? () => documents.forEach((document) => toCheckRequest(document)) : undefined);
    if (check === undefined) return fail('has no kind and no check in KINDLESS_FILES');
    try {
      check(file);
    } catch (error) {
      fail((error as Error).message);
    }
    return;
  }
  documents.forEach((document, index) => {
    const record = document as Record<string, unknown>;
    const label = `${name}#${index}`;
    if (record.kind === 'Kustomization') {
      if (path.basename(file) !== 'kustomization.yaml') fail('a Kustomization must be named kustomization.yaml');
      return; // built below
    }
    if (String(record.apiVersion).startsWith('gatehouse.dev/')) {
      try {
        checkPolicyFiles([{ file, text: readFileSync(file, 'utf8') }]);
      } catch (error) {
        fail((error as Error).message);
      }
      return;
    }
    const strict = checkUnschemaed(record);
    if (strict !== undefined) findings.problems.push(...strict.map((problem) => `${label}: ${problem}`));
    if (strict === undefined) findings.documents.push({ label, document: record });
    // IstioOperator's CRD schema covers its metadata only; the strict shape its spec.
    if (record.kind === 'IstioOperator')
      findings.documents.push({ label, document: { apiVersion: record.apiVersion, kind: record.kind, metadata: record.metadata } });
  });
}

/** Secrets documented in the secrets.example.yaml files: the only Secrets manifests may mount. */
function documentedSecrets(files: readonly string[]): Set<string> {
  return new Set(
    files
      .filter((file) => path.basename(file) === 'secrets.example.yaml')
      .flatMap((file) => readDocuments(file))
      .map((document) => String((document as KubernetesObject).metadata?.name)),
  );
}

const CONFIG_PARSERS: Record<string, (text: string, file: string) => unknown> = {
  serve: parseConfig,
  'token-exchange': parseTokenExchangeConfig,
  'kubernetes-webhook': parseKubernetesWebhookConfig,
};

/** Fields of the configurations whose values are not files (URLs and HTTP paths). */
const NOT_FILES = new Set(['source', 'url', 'issuer', 'jwksUri', 'tokenPath', 'authorize', 'authenticate']);

/** Every absolute path in a parsed configuration that names a file or folder to read. */
function pathsIn(config: unknown, key = ''): string[] {
  if (typeof config === 'string') return config.startsWith('/') && !NOT_FILES.has(key) ? [config] : [];
  if (Array.isArray(config)) return config.flatMap((item) => pathsIn(item, key));
  if (typeof config === 'object' && config !== null) return Object.entries(config).flatMap(([field, value]) => pathsIn(value, field));
  return [];
}

const matches = (selector: unknown, labels: unknown): boolean =>
  typeof selector === 'object' &&
  selector !== null &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => (labels as Record<string, unknown> | undefined)?.[key] === value);

/** Cross-checks of one build: references resolve, selectors select, mounted configurations find their files. */
function crossCheck(label: string, objects: readonly KubernetesObject[], secrets: Set<string>): string[] {
  const problems: string[] = [];
  const configMaps = new Map(
    objects
      .filter((object) => object.kind === 'ConfigMap')
      .map((object) => [String(object.metadata?.name), object.data as Record<string, string>]),
  );
  const workloads = objects.filter((object) => podSpecOf(object) !== undefined);
  const podLabels = workloads.map(
    (object) => (object.spec as { template?: { metadata?: { labels?: unknown } } }).template?.metadata?.labels,
  );
  for (const workload of workloads) {
    const name = `${label} ${String(workload.kind)} ${String(workload.metadata?.name)}`;
    const spec = podSpecOf(workload)!;
    const volumes = new Map(((spec.volumes as Record<string, unknown>[] | undefined) ?? []).map((volume) => [String(volume.name), volume]));
    for (const volume of volumes.values()) {
      const configMap = (volume.configMap as { name?: string } | undefined)?.name;
      if (configMap !== undefined && !configMaps.has(configMap)) problems.push(`${name}: ConfigMap ${configMap} is not in the build`);
      const secretNames = [
        (volume.secret as { secretName?: string } | undefined)?.secretName,
        ...((volume.projected as { sources?: { secret?: { name?: string } }[] } | undefined)?.sources ?? []).map(
          (source) => source.secret?.name,
        ),
      ].filter((secret) => secret !== undefined);
      for (const secret of secretNames)
        if (!secrets.has(secret)) problems.push(`${name}: Secret ${secret} is not documented in a secrets.example.yaml`);
    }
    for (const container of (spec.containers as Record<string, unknown>[] | undefined) ?? []) {
      const args = (container.args as string[] | undefined) ?? [];
      const mounts = ((container.volumeMounts as { name: string; mountPath: string }[] | undefined) ?? []).map((mount) => ({
        ...mount,
        volume: volumes.get(mount.name),
      }));
      for (const mount of mounts) if (mount.volume === undefined) problems.push(`${name}: volumeMount ${mount.name} has no volume`);
      const configIndex = args.indexOf('--config');
      if (configIndex === -1) continue;
      const configPath = args[configIndex + 1]!;
      const mount = mounts.find((candidate) => path.dirname(configPath) === candidate.mountPath);
      const text = configMaps.get(String((mount?.volume?.configMap as { name?: string } | undefined)?.name))?.[path.basename(configPath)];
      const parser = CONFIG_PARSERS[args[0]!];
      if (text === undefined || parser === undefined) {
        problems.push(`${name}: --config ${configPath} is not a key of a mounted ConfigMap, or ${args[0]} is not a known command`);
        continue;
      }
      try {
        for (const file of pathsIn(parser(text, configPath))) {
          if (!mounts.some((candidate) => file === candidate.mountPath || file.startsWith(`${candidate.mountPath}/`))) {
            problems.push(`${name}: ${configPath} names ${file}, which no volume is mounted at`);
          }
        }
      } catch (error) {
        problems.push(`${name}: ${(error as Error).message}`);
      }
    }
  }
  for (const object of objects) {
    const name = `${label} ${String(object.kind)} ${String(object.metadata?.name)}`;
    const spec = object.spec as Record<string, unknown> | undefined;
    if (object.kind === 'Service' && object.apiVersion === 'v1' && !podLabels.some((labels) => matches(spec?.selector, labels)))
      problems.push(`${name}: selects no pod of the build`);
    if (
      (object.kind === 'PodDisruptionBudget' || object.kind === 'NetworkPolicy') &&
      !podLabels.some((labels) =>
        matches(((spec?.selector ?? spec?.podSelector) as { matchLabels?: unknown } | undefined)?.matchLabels, labels),
      )
    ) {
      problems.push(`${name}: selects no pod of the build`);
    }
    if (object.kind === 'HorizontalPodAutoscaler') {
      const target = spec?.scaleTargetRef as { kind?: string; name?: string } | undefined;
      if (!objects.some((candidate) => candidate.kind === target?.kind && candidate.metadata?.name === target?.name))
        problems.push(`${name}: scales nothing in the build`);
    }
  }
  return problems;
}

const files = yamlFiles(deployRoot);
const kustomizationDirs = files.filter((file) => path.basename(file) === 'kustomization.yaml').map((file) => path.dirname(file));
const builds = kustomizationDirs.map((dir) => ({ dir, ...buildKustomization(dir) }));
const secrets = documentedSecrets(files);

test('deploy/ has the manifests this test is about', (t) => {
  for (const expected of [
    'deploy/kubernetes/base',
    'deploy/kubernetes/overlays/dev',
    'deploy/kubernetes/overlays/production',
    'deploy/knative',
    'deploy/kubernetes-webhook',
  ]) {
    t.true(kustomizationDirs.includes(path.join(repoRoot, expected)), expected);
  }
  t.true(files.length > 20);
});

test('every YAML file under deploy/ validates against its schema, loader or strict shape', async (t) => {
  const findings: Findings = { problems: [], documents: [] };
  const consumed = new Map<string, string>();
  for (const build of builds) {
    for (const [file, generator] of build.files.generated) consumed.set(file, generator);
    for (const file of [...build.files.patches, ...build.files.configurations]) consumed.set(file, '');
  }
  for (const file of files) if (!consumed.has(file)) checkFile(file, findings);
  const generators = new Map<string, string[]>();
  for (const [file, generator] of consumed) if (generator !== '') generators.set(generator, [...(generators.get(generator) ?? []), file]);
  for (const [generator, generatedFiles] of generators) {
    try {
      checkGenerated(generator, generatedFiles);
    } catch (error) {
      findings.problems.push(`${generator}: ${(error as Error).message}`);
    }
    // The Istio documents among the policies also against Istio's schema.
    for (const file of generatedFiles.filter(() => generator.endsWith('-policies'))) {
      readDocuments(file).forEach((document, index) => {
        if (String((document as KubernetesObject).apiVersion).endsWith('.istio.io/v1'))
          findings.documents.push({ label: `${relative(file)}#${index}`, document: document as Record<string, unknown> });
      });
    }
  }
  for (const [label, problems] of await validateKubernetesDocuments(findings.documents))
    findings.problems.push(...problems.map((problem) => `${label}: ${problem}`));
  t.deepEqual(findings.problems, []);
  t.true(findings.documents.length > 15, `validated ${findings.documents.length} documents against the models`);
});

test('every kustomization builds from files that exist, and what it builds validates and hangs together', async (t) => {
  const problems = builds.flatMap((build) => build.problems);
  const documents = builds.flatMap((build) =>
    build.objects.map((object, i) => ({
      label: `${relative(build.dir)} build: ${String(object.kind)} ${String(object.metadata?.name)} (#${i})`,
      document: object,
    })),
  );
  for (const [label, found] of await validateKubernetesDocuments(documents))
    problems.push(...found.map((problem) => `${label}: ${problem}`));
  for (const build of builds) problems.push(...crossCheck(relative(build.dir), build.objects, secrets));
  t.deepEqual(problems, []);
});

test('the overlays change the base as intended', (t) => {
  const objectOf = (dir: string, kind: string, name: string): KubernetesObject =>
    builds
      .find((build) => build.dir === path.join(repoRoot, dir))!
      .objects.find((object) => object.kind === kind && object.metadata?.name === name)!;
  t.is((objectOf('deploy/kubernetes/overlays/dev', 'Deployment', 'gatehouse').spec as { replicas: number }).replicas, 1);
  t.is(
    (objectOf('deploy/kubernetes/overlays/production', 'HorizontalPodAutoscaler', 'gatehouse').spec as { minReplicas: number }).minReplicas,
    3,
  );
  t.regex(
    String((objectOf('deploy/kubernetes/overlays/dev', 'ConfigMap', 'gatehouse-config').data as Record<string, string>)['gatehouse.yaml']),
    /redis:\n {2}url: redis:\/\/redis\.gatehouse\.svc:6379/,
  );
  t.regex(
    String(
      (objectOf('deploy/kubernetes/overlays/production', 'ConfigMap', 'gatehouse-config').data as Record<string, string>)['gatehouse.yaml'],
    ),
    /sentinel:/,
  );
  const gateway = objectOf('deploy/kubernetes/overlays/production', 'Deployment', 'gatehouse');
  t.is(
    podSpecOf(gateway)!.containers && (podSpecOf(gateway)!.containers as { image: string }[])[0]!.image,
    'registry.example.com/platform/gatehouse:0.1.0',
  );
});

// A test that cannot fail is a defect: each of these must be rejected.
const deployment = (container: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'broken' },
  spec: {
    selector: { matchLabels: { app: 'broken' } },
    template: { metadata: { labels: { app: 'broken' } }, spec: { containers: [{ name: 'c', image: 'i', ...container }] } },
  },
});

test('rejected by the models: a misspelt field, a wrong type, a kind without a schema, a misspelt Istio field', async (t) => {
  const problems = await validateKubernetesDocuments([
    { label: 'misspelt', document: deployment({ readinesProbe: { grpc: { port: 9191 } } }) },
    { label: 'wrong type', document: { ...deployment({}), spec: { ...(deployment({}).spec as object), replicas: 'two' } } },
    { label: 'no schema', document: { apiVersion: 'example.com/v1', kind: 'Frobnicator', metadata: { name: 'x' } } },
    {
      label: 'istio',
      document: {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: 'x' },
        spec: { mtls: { mod: 'STRICT' } },
      },
    },
    { label: 'valid', document: deployment({}) },
  ]);
  t.regex(problems.get('misspelt')!.join(), /'"readinesProbe"' does not exist in type 'IContainer'/);
  t.regex(problems.get('wrong type')!.join(), /must be integer|not assignable to type 'number'/);
  t.regex(problems.get('no schema')!.join(), /no schema for example\.com\/v1 Frobnicator/);
  t.regex(problems.get('istio')!.join(), /'"mod"' does not exist/);
  t.deepEqual(problems.get('valid'), []);
});

test('rejected by the strict shapes: kubeconfig, AuthorizationConfiguration and MeshConfig mistakes', (t) => {
  const kubeconfig = readDocuments(path.join(deployRoot, 'kubernetes-webhook/apiserver/authorization-webhook.kubeconfig'))[0] as Record<
    string,
    unknown
  >;
  t.deepEqual(checkUnschemaed(kubeconfig), []);
  const misspelt = structuredClone(kubeconfig) as { clusters: { cluster: Record<string, unknown> }[] };
  misspelt.clusters[0]!.cluster.sever = misspelt.clusters[0]!.cluster.server;
  t.regex(checkUnschemaed(misspelt)!.join(), /clusters\[0\]\.cluster\.sever: unknown field/);

  const authorization = readDocuments(path.join(deployRoot, 'kubernetes-webhook/apiserver/authorization-config.yaml'))[0] as Record<
    string,
    unknown
  >;
  t.deepEqual(checkUnschemaed(authorization), []);
  const broken = structuredClone(authorization) as { authorizers: { webhook?: Record<string, unknown> }[] };
  const webhook = broken.authorizers.find((authorizer) => authorizer.webhook)!.webhook!;
  webhook.failurePolicy = 'Allow';
  webhook.cacheTTL = '5m';
  webhook.matchConditions = [{ expression: "request.user.startsWith('system:'" }];
  const problems = checkUnschemaed(broken)!.join('\n');
  t.regex(problems, /failurePolicy: must be one of NoOpinion, Deny/);
  t.regex(problems, /webhook\.cacheTTL: unknown field/);
  t.regex(problems, /matchConditions: request\.user\.startsWith/);

  const operator = readDocuments(path.join(deployRoot, 'istio/mesh-config.yaml'))[0] as Record<string, unknown>;
  t.deepEqual(checkUnschemaed(operator), []);
  const typo = structuredClone(operator) as {
    spec: { meshConfig: { extensionProviders: { envoyExtAuthzGrpc: Record<string, unknown> }[] } };
  };
  typo.spec.meshConfig.extensionProviders[0]!.envoyExtAuthzGrpc.timout = '1s';
  t.regex(checkUnschemaed(typo)!.join(), /envoyExtAuthzGrpc\.timout: unknown field/);
});

test('rejected by kustomize checks and cross-checks: a missing file, a patch that does not apply, an unmounted configuration path', (t) => {
  const base = builds.find((build) => build.dir === path.join(repoRoot, 'deploy/kubernetes/base'))!;
  const objects = structuredClone(base.objects);
  const gateway = objects.find((object) => object.kind === 'Deployment' && object.metadata?.name === 'gatehouse')!;
  const container = (podSpecOf(gateway)!.containers as { volumeMounts: { name: string }[] }[])[0]!;
  container.volumeMounts = container.volumeMounts.filter((mount) => mount.name !== 'policies');
  t.regex(crossCheck('base', objects, secrets).join('\n'), /names \/etc\/gatehouse\/policies, which no volume is mounted at/);
  const undocumented = structuredClone(base.objects);
  podSpecOf(undocumented.find((object) => object.kind === 'Deployment')!)!.volumes = [{ name: 'x', secret: { secretName: 'real-secret' } }];
  t.regex(crossCheck('base', undocumented, secrets).join('\n'), /Secret real-secret is not documented/);

  const broken = buildKustomization(path.join(repoRoot, 'test/deploy/fixtures/broken-kustomization'));
  const found = broken.problems.join('\n');
  t.regex(found, /resources missing\.yaml does not exist/);
  t.regex(found, /unknown field commonLabels/);
  t.regex(found, /\/spec\/replicaz does not exist/);
});

test('rejected by the gateway’s own loaders: a misspelt configuration field and a malformed policy', (t) => {
  t.throws(() => checkGenerated('gatehouse-config', [path.join(repoRoot, 'test/deploy/fixtures/broken-kustomization/gatehouse.yaml')]), {
    message: /listen\.prot: unknown field/,
  });
  t.throws(() =>
    checkPolicyFiles([
      {
        file: 'inline.yaml',
        text: 'apiVersion: gatehouse.dev/v1alpha1\nkind: KubernetesAccessPolicy\nmetadata: { name: x }\nspec: { rules: [{ resources: [{ verbz: [get] }] }] }\n',
      },
    ]),
  );
  t.throws(() => checkPolicyFiles([{ file: 'inline.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n' }]), {
    message: /not a policy kind/,
  });
});
