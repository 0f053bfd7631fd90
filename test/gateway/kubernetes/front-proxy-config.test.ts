/**
 * `kubernetesFrontProxy` in gatehouse.yaml: defaults, and errors that name the field.
 */
import test from 'ava';
import { parseConfig } from '../../../gateway/config/load.js';
import { selects } from '../../../gateway/kubernetes/front-proxy.js';
import { checkInput } from '../../helpers/check-input.js';

const JWT = `  jwt:
    - issuer: { url: https://login.example.com, audiences: [kubernetes] }
      claimMappings: { username: { claim: sub, prefix: "oidc:" } }
`;

const config = (section: string): string => `policies: { paths: [./policies] }\nkubernetesFrontProxy:\n${section}`;

test('defaults: the apiserver conventional header names, the token removed, no pass-through, the gateway policy paths', (t) => {
  const parsed = parseConfig(
    config(`  selector: { contextExtensions: { gatehouse.dev/front-proxy: kubernetes } }\n${JWT}`),
    '/etc/gatehouse/gatehouse.yaml',
  );
  const frontProxy = parsed.kubernetesFrontProxy!;
  t.deepEqual(frontProxy.headers, { user: ['x-remote-user'], group: ['x-remote-group'], extraPrefix: ['x-remote-extra-'] });
  t.true(frontProxy.removeAuthorization);
  t.false(frontProxy.passThroughWithoutToken);
  t.deepEqual(frontProxy.policies, ['/etc/gatehouse/policies']);
  t.deepEqual(frontProxy.selector, { hosts: [], contextExtensions: { 'gatehouse.dev/front-proxy': 'kubernetes' } });
  t.is(frontProxy.jwt[0]!.issuer.url, 'https://login.example.com');
});

test('header names as lists, as the apiserver flags take them: the first is set, all are stripped', (t) => {
  const parsed = parseConfig(
    config(
      `  selector: { hosts: [k8s] }\n${JWT}  headers: { user: [X-Remote-User, X-Forwarded-User], extraPrefix: [X-Remote-Extra-, X-Extra-] }\n`,
    ),
    'gatehouse.yaml',
  );
  t.deepEqual(parsed.kubernetesFrontProxy!.headers, {
    user: ['x-remote-user', 'x-forwarded-user'],
    group: ['x-remote-group'],
    extraPrefix: ['x-remote-extra-', 'x-extra-'],
  });
});

test('absent or disabled: no front proxy', (t) => {
  t.is(parseConfig('policies: { paths: [./policies] }\n', 'gatehouse.yaml').kubernetesFrontProxy, undefined);
  t.is(parseConfig(config('  enabled: false\n'), 'gatehouse.yaml').kubernetesFrontProxy, undefined);
});

const invalid: { name: string; section: string; error: RegExp }[] = [
  {
    name: 'an unknown field',
    section: `  selector: { hosts: [k8s] }\n${JWT}  passthrough: true\n`,
    error: /kubernetesFrontProxy\.passthrough: unknown field/,
  },
  { name: 'no selector', section: JWT, error: /kubernetesFrontProxy\.selector: is required/ },
  {
    name: 'an empty selector',
    section: `  selector: {}\n${JWT}`,
    error: /kubernetesFrontProxy\.selector: needs hosts or contextExtensions/,
  },
  {
    name: 'no authenticators',
    section: '  selector: { hosts: [k8s] }\n  jwt: []\n',
    error: /kubernetesFrontProxy\.jwt: needs at least one authenticator/,
  },
  {
    name: 'an authenticator without claim mappings',
    section: '  selector: { hosts: [k8s] }\n  jwt: [{ issuer: { url: https://login.example.com, audiences: [kubernetes] } }]\n',
    error: /kubernetesFrontProxy\.jwt\[0\]\.claimMappings: is required/,
  },
  {
    name: 'a header name that is not one',
    section: `  selector: { hosts: [k8s] }\n${JWT}  headers: { user: "X Remote User" }\n`,
    error: /kubernetesFrontProxy\.headers\.user: 'x remote user' is not an HTTP header name/,
  },
  {
    name: 'an Impersonate- header as the group header',
    section: `  selector: { hosts: [k8s] }\n${JWT}  headers: { group: Impersonate-Group }\n`,
    error: /kubernetesFrontProxy\.headers\.group: 'impersonate-group' is not a header the apiserver may trust/,
  },
  {
    name: 'an extra prefix that covers the user header',
    section: `  selector: { hosts: [k8s] }\n${JWT}  headers: { extraPrefix: X-Remote- }\n`,
    error: /kubernetesFrontProxy\.headers\.extraPrefix: 'x-remote-' must not be a prefix of a user or group header/,
  },
  {
    name: 'an empty list of user headers',
    section: `  selector: { hosts: [k8s] }\n${JWT}  headers: { user: [] }\n`,
    error: /kubernetesFrontProxy\.headers\.user: must name at least one header/,
  },
  {
    name: 'a header that is both a user and a group header',
    section: `  selector: { hosts: [k8s] }\n${JWT}  headers: { user: [X-Remote-User, X-User], group: [x-user] }\n`,
    error: /kubernetesFrontProxy\.headers\.group: 'x-user' is also a user header/,
  },
  {
    name: 'pass-through that is not a boolean',
    section: `  selector: { hosts: [k8s] }\n${JWT}  passThroughWithoutToken: "yes"\n`,
    error: /kubernetesFrontProxy\.passThroughWithoutToken: must be true or false/,
  },
];

for (const { name, section, error } of invalid) {
  test(`refused: ${name}`, (t) => {
    t.throws(() => parseConfig(config(section), 'gatehouse.yaml'), { message: error });
  });
}

test('the selector: every configured condition must hold; a host matches with or without its port', (t) => {
  const selector = { hosts: ['kubernetes.example.com'], contextExtensions: { 'gatehouse.dev/front-proxy': 'kubernetes' } };
  const marked = { 'gatehouse.dev/front-proxy': 'kubernetes' };
  t.true(selects(selector, checkInput({ host: 'kubernetes.example.com', contextExtensions: marked })));
  t.true(selects(selector, checkInput({ host: 'Kubernetes.example.com:6443', contextExtensions: marked })));
  t.false(selects(selector, checkInput({ host: 'kubernetes.example.com' })), 'the context extension is missing');
  t.false(selects(selector, checkInput({ host: 'todos.example.com', contextExtensions: marked })), 'another host');
  t.false(selects(selector, checkInput({ host: 'kubernetes.example.com.evil:6443', contextExtensions: marked })));
});
