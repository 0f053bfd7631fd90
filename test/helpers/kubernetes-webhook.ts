/**
 * The Kubernetes webhook service as kube-apiserver meets it: the request
 * bodies of the Kubernetes webhook documentation, in both API versions.
 */

export type SarVersion = 'v1' | 'v1beta1';

/** A SubjectAccessReview body of `version` with `spec` as given (groups spelled as the version spells them). */
export function sarBody(version: SarVersion, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: `authorization.k8s.io/${version}`, kind: 'SubjectAccessReview', spec });
}

/** A TokenReview body of `version`. */
export function tokenReviewBody(version: SarVersion, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: `authentication.k8s.io/${version}`, kind: 'TokenReview', spec });
}

interface SarDocument {
  readonly apiVersion: string;
  readonly kind: 'SubjectAccessReview';
  readonly spec: Record<string, unknown>;
}

/**
 * The SubjectAccessReview requests of the Kubernetes "Webhook Mode" page:
 * the resource request, the non-resource request and the selector request.
 * The page shows them as v1beta1, whose groups field is `group`; v1 spells it `groups`.
 */
export function documentedSubjectAccessReviews(version: SarVersion): {
  resource: SarDocument;
  nonResource: SarDocument;
  selectors: SarDocument;
} {
  const groups = { [version === 'v1beta1' ? 'group' : 'groups']: ['group1', 'group2'] };
  const document = (spec: Record<string, unknown>): SarDocument => ({
    apiVersion: `authorization.k8s.io/${version}`,
    kind: 'SubjectAccessReview',
    spec: { ...spec, user: 'jane', ...groups },
  });
  return {
    resource: document({
      resourceAttributes: { namespace: 'kittensandponies', verb: 'get', group: 'unicorn.example.org', resource: 'pods' },
    }),
    nonResource: document({ nonResourceAttributes: { path: '/debug', verb: 'get' } }),
    selectors: document({
      resourceAttributes: {
        verb: 'list',
        group: '',
        resource: 'pods',
        fieldSelector: { requirements: [{ key: 'spec.nodeName', operator: 'In', values: ['mynode'] }] },
        labelSelector: { requirements: [{ key: 'example.com/mykey', operator: 'In', values: ['myvalue'] }] },
      },
    }),
  };
}

/**
 * The TokenReview request of the Kubernetes "Authenticating" page (webhook
 * token authentication), with `token` in place of the page's elided one.
 */
export function documentedTokenReview(version: SarVersion, token: string): Record<string, unknown> {
  return {
    apiVersion: `authentication.k8s.io/${version}`,
    kind: 'TokenReview',
    spec: { token, audiences: ['https://myserver.example.com', 'https://myserver.internal.example.com'] },
  };
}
