/**
 * The gateway the token faults run against: a real identity provider
 * serving one known key, a RequestAuthentication for it, and a policy that
 * allows any request with a verified principal; and the request mix sent
 * while the fault runs, each kind with the decision the docs promise for it.
 */
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { epochSeconds, generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/tokens.js';
import { connect } from '../helpers/grpc-client.js';
import { ALLOW, checkOnce, type LoadCase } from './check-load.js';

export interface TokenGateway {
  readonly gatehouse: RunningGatehouse;
  readonly idp: JwksServer;
  /** In the key set from the start. */
  readonly known: TestKey;
  /** Not in the key set until the test publishes it (`publishNewKey`). */
  readonly rotated: TestKey;
  /** The request kinds whose decisions no Redis or key-set fault may change (`steadyCases`). */
  readonly steady: readonly LoadCase[];
  /** Valid tokens of `rotated`, each never sent before: take one per Check. */
  readonly rotatedTokens: string[];
  /** Adds `rotated` to what the identity provider serves. */
  publishNewKey(): void;
  close(): Promise<void>;
}

export interface TokenGatewayOptions {
  /** Appended to the gateway's configuration (e.g. `redis:` and `jwt:` settings). */
  readonly config?: string;
  /** How many tokens of the rotated key to sign. */
  readonly rotatedTokens?: number;
}

/**
 * Signs the tokens first (so the test process is idle while the gateway
 * fetches its keys), starts the identity provider and the gateway, and
 * resolves once a token is allowed: the gateway holds the key set.
 */
export async function startTokenGateway(options: TokenGatewayOptions = {}): Promise<TokenGateway> {
  const [known, rotated] = await Promise.all([generateTestKey('ES256'), generateTestKey('ES256')]);
  const idp = await startJwksServer(jwksOf(known));
  let gatehouse: RunningGatehouse | undefined;
  try {
    const steady = await steadyCases(idp.url, known);
    const rotatedTokens = await Promise.all(
      Array.from({ length: options.rotatedTokens ?? 0 }, (_, i) => validToken(idp.url, rotated, `new-${i}`)),
    );
    gatehouse = await startGatehouse({
      config: `policies: { paths: [./policies] }\n${options.config ?? ''}`,
      policies: { 'authn.yaml': tokenPolicies(idp) },
    });
    const authz = connect('envoy.service.auth.v3.Authorization', gatehouse.address);
    const probe = await checkOnce(authz, tokenRequest(await validToken(idp.url, known, 'probe')), 10_000);
    authz.close();
    if (!('decision' in probe) || probe.decision !== ALLOW)
      throw new Error(`the gateway did not allow a valid token: ${JSON.stringify(probe)}\n${gatehouse.output()}`);
    const running = gatehouse;
    return {
      gatehouse: running,
      idp,
      known,
      rotated,
      steady,
      rotatedTokens,
      publishNewKey: () => {
        idp.jwks = jwksOf(known, rotated);
      },
      close: async () => {
        await running.stop();
        await idp.close();
      },
    };
  } catch (error) {
    await gatehouse?.stop();
    await idp.close();
    throw error;
  }
}

function validToken(issuer: string, key: TestKey, sub: string): Promise<string> {
  const now = epochSeconds();
  return signToken({ iss: issuer, sub, aud: 'todos', iat: now, exp: now + 600 }, key);
}

function tokenPolicies(idp: JwksServer): string {
  return `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: istio-system }
spec:
  jwtRules: [{ issuer: "${idp.url}", jwksUri: "${idp.jwksUri}", audiences: [todos] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: users-only, namespace: istio-system }
spec:
  rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }]
`;
}

/** A CheckRequest for GET / on the todos workload, with a bearer token or without one. */
export function tokenRequest(token: string | undefined): unknown {
  return {
    attributes: {
      destination: { principal: 'spiffe://cluster.local/ns/default/sa/todos' },
      request: { http: { method: 'GET', path: '/', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } } },
    },
  };
}

const always =
  (...decisions: string[]) =>
  (): readonly string[] =>
    decisions;

/**
 * The mix whose decisions no Redis or key-set fault may change: a few valid
 * tokens sent again and again (cache hits), a valid token never seen before
 * (verified, written to Redis), an expired one, a forged one, and none.
 */
async function steadyCases(issuer: string, key: TestKey, freshTokens = 1000): Promise<LoadCase[]> {
  const now = epochSeconds();
  const reused = await Promise.all(Array.from({ length: 10 }, (_, i) => validToken(issuer, key, `reused-${i}`)));
  const fresh = await Promise.all(Array.from({ length: freshTokens }, (_, i) => validToken(issuer, key, `fresh-${i}`)));
  const expired = await signToken({ iss: issuer, sub: 'late', aud: 'todos', iat: now - 7200, exp: now - 3600 }, key);
  const valid = await validToken(issuer, key, 'forged');
  const forged = `${valid.slice(0, valid.lastIndexOf('.') + 1)}${Buffer.alloc(64, 7).toString('base64url')}`;
  let nextReused = 0;
  let nextFresh = 0;
  return [
    { name: 'reused token', request: () => tokenRequest(reused[nextReused++ % reused.length]), expected: always(ALLOW) },
    {
      name: 'fresh token',
      // Past the pre-signed ones, a token repeats: still valid, now a cache hit.
      request: () => tokenRequest(fresh[nextFresh++ % fresh.length]),
      expected: always(ALLOW),
    },
    { name: 'expired token', request: () => tokenRequest(expired), expected: always('Unauthorized TOKEN_EXPIRED') },
    { name: 'forged token', request: () => tokenRequest(forged), expected: always('Unauthorized TOKEN_BAD_SIGNATURE') },
    { name: 'no token', request: () => tokenRequest(undefined), expected: always('Forbidden NO_ALLOW_MATCH') },
  ];
}
