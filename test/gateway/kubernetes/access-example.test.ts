/**
 * The todo example's KubernetesAccessPolicies
 * (deploy/examples/todo/policies/kubernetes-access.yaml) load beside the
 * gateway's policies and do what their comments promise.
 */
import test from 'ava';
import {
  loadKubernetesAuthorizer,
  type AccessReview,
  type KubernetesUser,
  type ResourceAttributes,
} from '../../../gateway/kubernetes/index.js';
import { loadPolicySet } from '../../../gateway/policy/index.js';

// ava runs from the repository root.
const folder = 'deploy/examples/todo/policies';
const authorizerPromise = loadKubernetesAuthorizer([folder], { users: [], groups: ['breakglass'] });

const person = (username: string, ...groups: string[]): KubernetesUser => ({
  username,
  groups: [...groups, 'system:authenticated'],
  extra: {},
});
const dev = person('alice@example.com', 'todo-devs');
const sre = person('bob@example.com', 'sre');
const reminder = person('system:serviceaccount:default:reminder', 'system:serviceaccounts', 'system:serviceaccounts:default');

const blank: ResourceAttributes = { verb: '', namespace: '', group: '', version: 'v1', resource: '', subresource: '', name: '' };
const review = (user: KubernetesUser, attributes: Partial<ResourceAttributes>): AccessReview => ({
  user,
  kind: 'resource',
  resource: { ...blank, ...attributes },
});

test('the example loads beside the gateway policies, which ignore it', async (t) => {
  const authorizer = await authorizerPromise;
  t.is(authorizer.policyCount, 4);
  const gateway = await loadPolicySet([folder]);
  t.is(gateway.policyCount, 3);
  t.deepEqual(gateway.skipped, []);
});

const rows: { name: string; review: AccessReview; expect: string }[] = [
  {
    name: 'a todo dev may list pods in default',
    review: review(dev, { verb: 'list', namespace: 'default', resource: 'pods' }),
    expect: 'allow default/todo-devs-read',
  },
  {
    name: 'a todo dev may read pod logs in default',
    review: review(dev, { verb: 'get', namespace: 'default', resource: 'pods', subresource: 'log', name: 'todos-1' }),
    expect: 'allow default/todo-devs-read',
  },
  {
    name: 'a todo dev may watch configmaps in default',
    review: review(dev, { verb: 'watch', namespace: 'default', resource: 'configmaps' }),
    expect: 'allow default/todo-devs-read',
  },
  {
    name: 'a todo dev gets no Gatehouse grant to delete pods',
    review: review(dev, { verb: 'delete', namespace: 'default', resource: 'pods', name: 'todos-1' }),
    expect: 'no opinion',
  },
  {
    name: 'a todo dev gets no Gatehouse grant in kube-system',
    review: review(dev, { verb: 'list', namespace: 'kube-system', resource: 'pods' }),
    expect: 'no opinion',
  },
  {
    name: 'a todo dev may not exec into pods',
    review: review(dev, { verb: 'create', namespace: 'default', resource: 'pods', subresource: 'exec', name: 'todos-1' }),
    expect: 'no opinion',
  },
  {
    name: 'reminder may get reminder-config',
    review: review(reminder, { verb: 'get', namespace: 'default', resource: 'configmaps', name: 'reminder-config' }),
    expect: 'allow default/reminder-reads-config',
  },
  {
    name: 'reminder may not get another configmap',
    review: review(reminder, { verb: 'get', namespace: 'default', resource: 'configmaps', name: 'todo-config' }),
    expect: 'no opinion',
  },
  {
    name: 'reminder may not list configmaps',
    review: review(reminder, { verb: 'list', namespace: 'default', resource: 'configmaps' }),
    expect: 'no opinion',
  },
  {
    name: 'a todo dev is denied the secrets of default',
    review: review(dev, { verb: 'get', namespace: 'default', resource: 'secrets', name: 'db' }),
    expect: 'deny default/secrets-sre-only',
  },
  {
    name: 'the reminder service is denied the secrets of default',
    review: review(reminder, { verb: 'list', namespace: 'default', resource: 'secrets' }),
    expect: 'deny default/secrets-sre-only',
  },
  {
    name: 'SRE is not denied the secrets (RBAC decides)',
    review: review(sre, { verb: 'get', namespace: 'default', resource: 'secrets', name: 'db' }),
    expect: 'no opinion',
  },
  {
    name: 'secrets of other namespaces are left to RBAC',
    review: review(dev, { verb: 'get', namespace: 'kube-system', resource: 'secrets' }),
    expect: 'no opinion',
  },
  {
    name: 'break-glass reads the secrets of default',
    review: review(person('oncall', 'breakglass'), { verb: 'get', namespace: 'default', resource: 'secrets', name: 'db' }),
    expect: 'break-glass breakglass',
  },
  {
    name: 'SRE may impersonate the todos service account',
    review: review(sre, { verb: 'impersonate', namespace: 'default', resource: 'serviceaccounts', name: 'todos', version: '' }),
    expect: 'allow default/sre-impersonates-app',
  },
  {
    name: 'SRE may not impersonate a kube-system service account',
    review: review(sre, { verb: 'impersonate', namespace: 'kube-system', resource: 'serviceaccounts', name: 'kube-proxy', version: '' }),
    expect: 'no opinion',
  },
  {
    name: 'a todo dev may not impersonate service accounts',
    review: review(dev, { verb: 'impersonate', namespace: 'default', resource: 'serviceaccounts', name: 'todos', version: '' }),
    expect: 'no opinion',
  },
];

for (const row of rows) {
  test(`todo example: ${row.name}`, async (t) => {
    const verdict = (await authorizerPromise).review(row.review);
    const outcome = verdict.breakGlass
      ? `break-glass ${verdict.breakGlass}`
      : verdict.allowed
        ? `allow ${verdict.policy}`
        : verdict.denied
          ? `deny ${verdict.policy}`
          : 'no opinion';
    t.is(outcome, row.expect);
  });
}
