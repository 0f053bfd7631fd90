/** The demo policies in deploy/examples/todo/policies do what the demo promises. */
import test from 'ava';
import { DecisionCode } from '../../../gateway/errors.js';
import { evaluate, loadPolicySet } from '../../../gateway/policy/index.js';
import { checkInput } from '../../helpers/check-input.js';

const sa = (name: string) => `cluster.local/ns/default/sa/${name}`;
const todosWorkload = { namespace: 'default', labels: { app: 'todos' } };
const reminderWorkload = { namespace: 'default', labels: { app: 'reminder' } };

// ava runs from the repository root.
const setPromise = loadPolicySet(['deploy/examples/todo/policies']);

test('the demo policies load', async (t) => {
  const set = await setPromise;
  t.is(set.policyCount, 3);
  t.deepEqual(set.skipped, []);
});

test('reminder may GET todos', async (t) => {
  const decision = evaluate(
    await setPromise,
    checkInput({ principal: sa('reminder'), method: 'GET', path: '/todos', workload: todosWorkload }),
  );
  t.like(decision, { allowed: true, code: DecisionCode.Allowed, policy: 'default/todos-viewer-allow', rule: 0 });
});

test('reminder may not write todos', async (t) => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const decision = evaluate(
      await setPromise,
      checkInput({ principal: sa('reminder'), method, path: '/todos/1', workload: todosWorkload }),
    );
    t.like(decision, { allowed: false, code: DecisionCode.NoAllowMatch }, method);
  }
});

test('share may GET todos but not write them', async (t) => {
  const set = await setPromise;
  t.like(evaluate(set, checkInput({ principal: sa('share'), method: 'GET', workload: todosWorkload })), {
    allowed: true,
    policy: 'default/todos-share-allow',
  });
  t.like(evaluate(set, checkInput({ principal: sa('share'), method: 'POST', workload: todosWorkload })), {
    allowed: false,
    code: DecisionCode.NoAllowMatch,
  });
});

test('a caller without mTLS identity may not reach todos', async (t) => {
  t.like(evaluate(await setPromise, checkInput({ method: 'GET', workload: todosWorkload })), {
    allowed: false,
    code: DecisionCode.NoAllowMatch,
  });
});

test('todos may not call reminder', async (t) => {
  const decision = evaluate(
    await setPromise,
    checkInput({ principal: sa('todos'), method: 'POST', path: '/reminders', workload: reminderWorkload }),
  );
  t.like(decision, { allowed: false, code: DecisionCode.PolicyDenied, policy: 'default/reminder-deny-todos', rule: 0 });
});

test('others may call reminder (no ALLOW policy applies to it)', async (t) => {
  const decision = evaluate(await setPromise, checkInput({ principal: sa('share'), method: 'POST', workload: reminderWorkload }));
  t.like(decision, { allowed: true, code: DecisionCode.Allowed, policy: undefined });
});
