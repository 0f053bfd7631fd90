/**
 * Properties of the policy document loaders (gateway/policy/load.ts and the
 * validators of AuthorizationPolicy, RequestAuthentication, DelegationPolicy
 * and KubernetesAccessPolicy), driven through the pipeline of
 * `gatehouse validate`: valid documents load and decide every request with a
 * code; YAML, flow YAML and JSON of the same documents load to the same
 * model; a mutated document, or random YAML, is loaded or refused with a
 * ValidationError naming file#document and the field, never another
 * exception; DENY or AUDIT policies never allow what the set without
 * them denies; and shadow policies never change a live decision, while
 * their candidate decides as the same policies would enforced.
 */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { DecisionCode } from '../../gateway/errors.js';
import { parseRequestAuthentications, validateRequestAuthentication } from '../../gateway/identity/index.js';
import {
  compilePolicySet,
  evaluate,
  evaluateShadow,
  parseDelegationPolicies,
  parsePolicyDocuments,
  validateDelegationPolicy,
  type PolicyDocumentSource,
} from '../../gateway/policy/index.js';
import { validateAuthorizationPolicy } from '../../gateway/policy/validate.js';
import {
  anyDocument,
  authorizationPolicies,
  checkInputs,
  delegationPolicies,
  delegationRequests,
  fieldName,
  fieldPaths,
  isMap,
  isRelatedField,
  loadAll,
  loadOrRefusal,
  mutations,
  named,
  policyOptions,
  requestAuthentications,
  unknownFieldNames,
  valueAt,
  withValueAt,
  yamlStream,
  type Document,
} from '../helpers/policy-documents.js';
import { numRuns } from './runs.js';

const file = 'policies.yaml';
const source = (text: string): PolicyDocumentSource[] => [{ file, text }];

/** Codes an AuthorizationPolicy set may decide with (not INTERNAL_ERROR: that would be a bug). */
const policyCodes = new Set<string>([
  DecisionCode.Allowed,
  DecisionCode.PolicyDenied,
  DecisionCode.NoAllowMatch,
  DecisionCode.WorkloadUnresolved,
  DecisionCode.PolicyError,
]);
const delegationCodes = new Set<string>([
  DecisionCode.DelegationTooDeep,
  DecisionCode.DelegationCycle,
  DecisionCode.DelegationMalformed,
  DecisionCode.DelegationNotPermitted,
  DecisionCode.DelegationMayActMismatch,
]);

/** A stream of valid documents of the three gateway kinds, named apart. */
const gatewayDocuments = fc
  .tuple(
    fc.array(authorizationPolicies(), { maxLength: 4 }),
    fc.array(requestAuthentications, { maxLength: 2 }),
    fc.array(delegationPolicies, { maxLength: 2 }),
  )
  .chain(([policies, authentications, delegations]) =>
    fc.shuffledSubarray([...policies, ...authentications, ...delegations], {
      minLength: policies.length + authentications.length + delegations.length,
    }),
  )
  .map((documents) => named(documents));

test('valid documents load, and every random request gets a decision with a code, never an exception or INTERNAL_ERROR', (t) => {
  fc.assert(
    fc.property(
      gatewayDocuments,
      fc.array(checkInputs, { minLength: 1, maxLength: 4 }),
      fc.array(delegationRequests, { maxLength: 3 }),
      (documents, inputs, delegations) => {
        const loaded = loadAll(source(yamlStream(documents)));
        for (const input of inputs) {
          const decision = evaluate(loaded.policies, input);
          if (!policyCodes.has(decision.code) || decision.allowed !== (decision.code === DecisionCode.Allowed) || decision.reason === '')
            return false;
          loaded.authentication.rulesFor(input.workload);
        }
        return delegations.every((request) => {
          const verdict = loaded.delegation.evaluate(request);
          return verdict.ok || delegationCodes.has(verdict.code);
        });
      },
    ),
    { numRuns: numRuns(80) },
  );
  t.pass();
});

test('the same documents as block YAML, flow YAML and JSON load to the model of the documents themselves, and decide alike', (t) => {
  fc.assert(
    fc.property(gatewayDocuments, fc.array(checkInputs, { minLength: 1, maxLength: 4 }), (documents, inputs) => {
      const origin = (documentIndex: number) => ({ file, documentIndex });
      const kindOf = (kind: string) => documents.flatMap((document, i) => (document.kind === kind ? [{ document, i }] : []));
      const direct = {
        policies: kindOf('AuthorizationPolicy').map(({ document, i }) =>
          validateAuthorizationPolicy(document, origin(i), policyOptions.defaultNamespace),
        ),
        authentications: kindOf('RequestAuthentication').map(({ document, i }) =>
          validateRequestAuthentication(document, origin(i), policyOptions.defaultNamespace),
        ),
        delegations: kindOf('DelegationPolicy').map(({ document, i }) =>
          validateDelegationPolicy(document, origin(i), policyOptions.defaultNamespace),
        ),
      };
      const directSet = compilePolicySet({ policies: direct.policies, skipped: [] }, policyOptions);
      const texts = [
        yamlStream(documents),
        documents.map((document) => stringify(document, { collectionStyle: 'flow' })).join('---\n'),
        documents.map((document) => JSON.stringify(document)).join('\n---\n'),
      ];
      return texts.every((text) => {
        const sources = source(text);
        const loaded = parsePolicyDocuments(sources, policyOptions);
        const set = compilePolicySet(loaded, policyOptions);
        return (
          isDeepStrictEqual(loaded.policies, direct.policies) &&
          isDeepStrictEqual(parseRequestAuthentications(sources, policyOptions).documents, direct.authentications) &&
          isDeepStrictEqual(parseDelegationPolicies(sources, policyOptions).documents, direct.delegations) &&
          inputs.every((input) => isDeepStrictEqual(evaluate(set, input), evaluate(directSet, input)))
        );
      });
    }),
    { numRuns: numRuns(40) },
  );
  t.pass();
});

/** One valid stream with document `index` replaced by what `change` makes of it. */
const streamWithChanged = (change: (document: Document) => fc.Arbitrary<{ document: Document; field: string }>) =>
  fc.tuple(fc.array(anyDocument, { minLength: 1, maxLength: 3 }), fc.nat()).chain(([documents, at]) => {
    const all = named(documents);
    const index = at % all.length;
    return change(all[index] as Document).map((changed) => ({
      documents: all.map((document, i) => (i === index ? changed.document : document)),
      index,
      changed,
    }));
  });

test('a mutated document is loaded, or refused with a ValidationError naming its file#document and the mutated field (or one around it)', (t) => {
  fc.assert(
    fc.property(streamWithChanged(mutations), checkInputs, ({ documents, index, changed }, input) => {
      const outcome = loadOrRefusal(() => loadAll(source(yamlStream(documents))));
      if (outcome.ok) return policyCodes.has(evaluate(outcome.value.policies, input).code);
      const { error } = outcome;
      return (
        error.file === file &&
        error.documentIndex === index &&
        isRelatedField(error.field, changed.field) &&
        error.message.startsWith(`${file}#${index} `)
      );
    }),
    { numRuns: numRuns(250) },
  );
  t.pass();
});

/** Mappings whose keys are free (labels, annotations, selector labels) or not read (`status`). */
const freeMapping = /^(metadata\.(labels|annotations)|spec\.selector\.matchLabels|status)(\.|\[|$)/;

/** Asserts that loading `documents` is refused naming document `index` and exactly `field`. */
function refusedAt(documents: readonly Document[], index: number, field: string): boolean {
  const outcome = loadOrRefusal(() => loadAll(source(yamlStream(documents))));
  return !outcome.ok && outcome.error.documentIndex === index && outcome.error.field.replace(/\[([^\]\d][^\]]*)\]/g, '.$1') === field;
}

test('an unknown field anywhere but in free-form mappings is refused, naming that field', (t) => {
  const addUnknown = (document: Document) => {
    const maps = [[], ...fieldPaths(document)].filter((path) => {
      return isMap(valueAt(document, path)) && !freeMapping.test(fieldName(path));
    });
    return fc.tuple(fc.constantFrom(...maps), unknownFieldNames, fc.jsonValue({ maxDepth: 1 })).map(([path, name, value]) => ({
      document:
        path.length === 0
          ? { ...document, [name]: value }
          : withValueAt(document, path, (old) => ({ ...(old as Document), [name]: value })),
      field: fieldName([...path, name]),
    }));
  };
  fc.assert(
    fc.property(streamWithChanged(addUnknown), ({ documents, index, changed }) => refusedAt(documents, index, changed.field)),
    { numRuns: numRuns(150) },
  );
  t.pass();
});

const knownVersions = ['security.istio.io/v1', 'security.istio.io/v1beta1', 'gatehouse.dev/v1alpha1'];

test('another version of a known group is refused naming apiVersion; another group or kind is skipped (listed as such), not refused', (t) => {
  const retag = (document: Document) =>
    fc
      .oneof(
        fc
          .stringMatching(/^v[0-9a-z]{1,6}$/)
          .map((version) => ({ field: 'apiVersion', value: `${String(document.apiVersion).split('/')[0]}/${version}` })),
        fc.stringMatching(/^[a-z]{1,8}\.example\/v1$/).map((value) => ({ field: 'apiVersion', value })),
        fc.stringMatching(/^[A-Z][a-zA-Z]{0,12}$/).map((value) => ({ field: 'kind', value: `Other${value}` })),
      )
      .filter(({ value }) => !knownVersions.includes(value) && value !== document.kind)
      .map(({ field, value }) => ({ document: { ...document, [field]: value }, field }));
  fc.assert(
    fc.property(streamWithChanged(retag), ({ documents, index, changed }) => {
      const document = documents[index] as Document;
      const knownGroup = ['security.istio.io', 'gatehouse.dev'].includes(String(document.apiVersion).split('/')[0] ?? '');
      if (changed.field === 'apiVersion' && knownGroup) return refusedAt(documents, index, 'apiVersion');
      const outcome = loadOrRefusal(() => loadAll(source(yamlStream(documents))));
      return (
        outcome.ok && outcome.value.policies.skipped.some((skipped) => skipped.documentIndex === index && skipped.kind === document.kind)
      );
    }),
    { numRuns: numRuns(80) },
  );
  t.pass();
});

/** Fields whose values are Istio string patterns (exact, `prefix*`, `*suffix`, `*`), by kind. */
const patternFields: Readonly<Record<string, RegExp>> = {
  AuthorizationPolicy:
    /^spec\.rules\[\d+\]\.(from\[\d+\]\.source\.(principals|notPrincipals|requestPrincipals|notRequestPrincipals|namespaces|notNamespaces)|to\[\d+\]\.operation\.(hosts|notHosts|methods|notMethods|paths|notPaths)|when\[\d+\]\.(values|notValues))\[\d+\]$/,
  DelegationPolicy:
    /^spec\.rules\[\d+\]\.(actors|subjects|audiences|to\[\d+\]\.operation\.(hosts|notHosts|methods|notMethods|paths|notPaths))\[\d+\]$/,
  KubernetesAccessPolicy:
    /^spec\.rules\[\d+\]\.(subjects\[\d+\]\.(users|groups|notUsers|notGroups)|resources\[\d+\]\.(names|namespaces))\[\d+\]$/,
};

test('a "*" inside a pattern value (not alone, prefix or suffix) is refused, naming that value', (t) => {
  const insertWildcard = (document: Document) => {
    const fields = patternFields[String(document.kind)];
    const candidates = fieldPaths(document).filter((path) => {
      const value = valueAt(document, path);
      // CEL expressions are not patterns: `a*b` may be a multiplication.
      const inCel = valueAt(document, [...path.slice(0, -2), 'key']) === 'gatehouse.cel';
      return fields?.test(fieldName(path)) === true && !inCel && typeof value === 'string' && /[A-Za-z0-9]{2}/.test(value);
    });
    if (candidates.length === 0) return fc.constant({ document, field: '' });
    return fc.tuple(fc.constantFrom(...candidates), fc.nat()).map(([path, at]) => {
      const value = valueAt(document, path) as string;
      const positions = [...value.matchAll(/(?<=[A-Za-z0-9])(?=[A-Za-z0-9])/g)].map((match) => match.index);
      const position = positions[at % positions.length] as number;
      return {
        document: withValueAt(document, path, () => `${value.slice(0, position)}*${value.slice(position)}`),
        field: fieldName(path),
      };
    });
  };
  fc.assert(
    fc.property(
      streamWithChanged(insertWildcard),
      ({ documents, index, changed }) => changed.field === '' || refusedAt(documents, index, changed.field),
    ),
    { numRuns: numRuns(150) },
  );
  t.pass();
});

/** Enumerated fields and the values they take. */
const enums: readonly [RegExp, readonly string[]][] = [
  [/^spec\.action$/, ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']],
  [/^spec\.targetRefs?(\[\d+\])?\.kind$/, ['Service', 'Gateway']],
  [/\.(labelSelector|fieldSelector)\[\d+\]\.operator$/, ['In', 'NotIn', 'Exists', 'DoesNotExist']],
];

test('an enumerated field (action, targetRef kind, selector operator) set to another string is refused, naming that field', (t) => {
  const misspell = (document: Document) => {
    const present = fieldPaths(document).filter((path) => enums.some(([field]) => field.test(fieldName(path))));
    // Kinds without spec.action refuse it as an unknown field: the same field is named either way.
    const candidates = present.some((path) => fieldName(path) === 'spec.action') ? present : [...present, ['spec', 'action']];
    return fc
      .tuple(fc.constantFrom(...candidates), fc.string({ maxLength: 10 }))
      .filter(([path, value]) => !enums.some(([field, values]) => field.test(fieldName(path)) && values.includes(value)))
      .map(([path, value]) => ({
        document: withValueAt(document, path, () => value),
        field: fieldName(path),
      }));
  };
  fc.assert(
    fc.property(streamWithChanged(misspell), ({ documents, index, changed }) => refusedAt(documents, index, changed.field)),
    { numRuns: numRuns(120) },
  );
  t.pass();
});

const randomFile = 'random.yaml';
const knownKinds = ['AuthorizationPolicy', 'RequestAuthentication', 'DelegationPolicy', 'KubernetesAccessPolicy'];
const schemaKeys = [
  'apiVersion',
  'kind',
  'metadata',
  'name',
  'namespace',
  'spec',
  'action',
  'selector',
  'matchLabels',
  'targetRefs',
  'rules',
];
const yamlPieces = [
  '---\n',
  '\n',
  ': ',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ', ',
  '&a ',
  '*a',
  '!!binary ',
  '!custom ',
  '? ',
  '|\n',
  '# c',
  '<<: *a',
  '%YAML 1.2\n',
  '...\n',
  '"',
  "'",
  '  ',
  '\t',
  '~',
  '\u0000',
  '\ufeff',
  ...schemaKeys,
  ...knownKinds,
  ...knownVersions,
];

/** Random values, maps keyed by schema words so that some reach deep into the validators. */
const { value: shapes } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(...knownKinds, ...knownVersions),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...schemaKeys, 'from', 'to', 'when', 'jwtRules', 'actors', 'resources'), tie('value'), { maxKeys: 4 }),
  ),
}));

/** An alias bomb: each level a list of `width` aliases of the level below, `depth` levels. */
const aliasBombs = fc.tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 })).map(([width, depth]) => {
  const levels = [`l0: &l0 [${Array(width).fill('x').join(', ')}]`];
  for (let level = 1; level < depth; level++)
    levels.push(
      `l${level}: &l${level} [${Array(width)
        .fill(`*l${level - 1}`)
        .join(', ')}]`,
    );
  return {
    text: `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: bomb\nstatus:\n  ${levels.join('\n  ')}\n`,
    nodes: width ** depth,
  };
});

const randomTexts = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.constantFrom(...yamlPieces), { maxLength: 40 }).map((pieces) => pieces.join('')),
  shapes.map((value) => stringify(value)),
  fc
    .record(
      { apiVersion: fc.constantFrom(...knownVersions), kind: fc.constantFrom(...knownKinds), metadata: shapes, spec: shapes },
      { requiredKeys: ['apiVersion', 'kind'] },
    )
    .map((value) => stringify(value)),
  fc
    .array(
      fc.oneof(
        anyDocument.map((document) => stringify(document)),
        fc.string({ maxLength: 40 }),
        shapes.map((value) => stringify(value)),
      ),
      { maxLength: 4 },
    )
    .map((parts) => parts.join('---\n')),
  aliasBombs.map(({ text }) => text),
);

test('random YAML (text, structures, streams with junk, alias bombs) is loaded or refused with a ValidationError naming the file, in bounded time', (t) => {
  fc.assert(
    fc.property(randomTexts, (text) => {
      const started = performance.now();
      const outcome = loadOrRefusal(() => loadAll([{ file: randomFile, text }]));
      const refusedClearly =
        outcome.ok || (outcome.error.file === randomFile && outcome.error.message.startsWith(randomFile) && outcome.error.problem !== '');
      // Each case takes milliseconds; the bound is loose enough for a loaded machine and far below what an expanding alias bomb would take.
      return refusedClearly && performance.now() - started < 5000;
    }),
    { numRuns: numRuns(400) },
  );
  t.pass();
});

test('an alias bomb that would expand past 10,000 nodes is refused as invalid YAML', (t) => {
  fc.assert(
    fc.property(
      aliasBombs.filter(({ nodes }) => nodes > 10_000),
      ({ text }) => {
        const outcome = loadOrRefusal(() => loadAll([{ file: randomFile, text }]));
        return !outcome.ok && outcome.error.problem.startsWith('invalid YAML');
      },
    ),
    { numRuns: numRuns(50) },
  );
  t.pass();
});

test('DENY and AUDIT policies never allow a request the set without them denies (alone: none the empty set denies)', (t) => {
  const compile = (documents: readonly Document[]) =>
    compilePolicySet(parsePolicyDocuments(source(yamlStream(documents)), policyOptions), policyOptions);
  fc.assert(
    fc.property(
      fc.array(authorizationPolicies(), { maxLength: 3 }),
      fc.array(authorizationPolicies(['DENY', 'AUDIT']), { minLength: 1, maxLength: 3 }),
      fc.array(checkInputs, { minLength: 1, maxLength: 4 }),
      (others, denyOrAudit, inputs) => {
        const without = compile(named(others, 'other'));
        const withThem = compile([...named(others, 'other'), ...named(denyOrAudit, 'deny-or-audit')]);
        return inputs.every((input) => !evaluate(withThem, input).allowed || evaluate(without, input).allowed);
      },
    ),
    { numRuns: numRuns(200) },
  );
  t.pass();
});

test('shadow policies never change the live decision, and the candidate decides as the same policies would enforced', (t) => {
  const compile = (documents: readonly Document[]) =>
    compilePolicySet(parsePolicyDocuments(source(yamlStream(documents)), policyOptions), policyOptions);
  // The generated documents may carry a shadow annotation of their own: each side sets its own.
  const withAnnotations = (document: Document, annotations: Document): Document => ({
    ...document,
    metadata: { ...(document.metadata as Document), annotations },
  });
  const enforced = (document: Document) => withAnnotations(document, {});
  const outcome = ({ allowed, code, policy }: { allowed: boolean; code: string; policy?: string }) => ({ allowed, code, policy });
  fc.assert(
    fc.property(
      fc.array(authorizationPolicies(), { maxLength: 3 }),
      fc.array(authorizationPolicies(), { minLength: 1, maxLength: 3 }),
      fc.constantFrom('istio.io/dry-run', 'gatehouse.dev/shadow'),
      fc.array(checkInputs, { minLength: 1, maxLength: 4 }),
      (live, candidates, annotation, inputs) => {
        const livePolicies = named(live, 'live').map(enforced);
        const liveOnly = compile(livePolicies);
        const shadows = named(candidates, 'shadow').map((document) => withAnnotations(document, { [annotation]: 'true' }));
        const withShadows = compile([...livePolicies, ...shadows]);
        const allEnforced = compile([...livePolicies, ...named(candidates, 'shadow').map(enforced)]);
        return inputs.every((input) => {
          const decision = evaluate(withShadows, input);
          if (!isDeepStrictEqual(outcome(decision), outcome(evaluate(liveOnly, input)))) return false;
          // Without a shadow policy for the workload there is no candidate, and the enforced set then decides like the live one.
          const candidate = evaluateShadow(withShadows, input, decision)?.decision ?? decision;
          return candidate.allowed === evaluate(allEnforced, input).allowed;
        });
      },
    ),
    { numRuns: numRuns(200) },
  );
  t.pass();
});
