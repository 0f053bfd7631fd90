/**
 * Wiring for `gatehouse serve` when gatehouse.yaml has `kubernetesFrontProxy`:
 * the KubernetesAccessPolicies (reloaded with the gateway's policies), the
 * authenticators' keys (prefetched in the background), and the front-proxy
 * stage around the gateway's request authentication. Loaded only when configured.
 */
import type { Authenticator } from '../authorizer.js';
import type { GatehouseConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { SharedState } from '../shared-state.js';
import { loadKubernetesAuthorizer, type KubernetesAuthorizer } from './authorizer.js';
import type { KubernetesFrontProxySettings } from './front-proxy-config.js';
import { KubernetesFrontProxy } from './front-proxy.js';

export interface FrontProxyParts {
  /** The gateway's request authentication, for other workloads. */
  readonly next: Authenticator;
  readonly shared: Pick<SharedState, 'keys' | 'cache'>;
  /** Called with a listener for every reload of the gateway's policies. */
  readonly onPolicyReload: (listener: () => void) => void;
  readonly log: Logger;
}

/**
 * @throws ValidationError when a KubernetesAccessPolicy is invalid at start-up (a later reload keeps the previous set).
 * @example
 * const authenticator = await openKubernetesFrontProxy(config, settings, { next: tokens, shared, onPolicyReload, log });
 */
export async function openKubernetesFrontProxy(
  config: GatehouseConfig,
  settings: KubernetesFrontProxySettings,
  parts: FrontProxyParts,
): Promise<KubernetesFrontProxy> {
  // Break-glass is the webhook's business: the front proxy only ever adds a gate.
  const load = (): Promise<KubernetesAuthorizer> =>
    loadKubernetesAuthorizer(
      settings.policies,
      { users: [], groups: [] },
      {
        rootNamespace: config.policies.rootNamespace,
        defaultNamespace: config.policies.defaultNamespace,
      },
    );
  let current = await load();
  parts.onPolicyReload(() => {
    load().then(
      (next) => {
        current = next;
        parts.log.info({ policies: next.policyCount, rules: next.ruleCount }, 'kubernetes front proxy: access policies reloaded');
      },
      (error: unknown) =>
        parts.log.error(
          { err: error instanceof Error ? error.message : String(error) },
          'kubernetes front proxy: access policies rejected; keeping the previous set',
        ),
    );
  });
  const frontProxy = new KubernetesFrontProxy({
    settings,
    policies: { current: () => current },
    keys: parts.shared.keys,
    cache: parts.shared.cache,
    maxTokenBytes: config.jwt.maxTokenBytes,
    next: parts.next,
  });
  void parts.shared.keys.prefetch(frontProxy.issuerRules);
  parts.log.info(
    {
      issuers: settings.jwt.map((jwt) => jwt.issuer.url),
      policies: current.policyCount,
      passThroughWithoutToken: settings.passThroughWithoutToken,
    },
    'kubernetes front proxy enabled',
  );
  return frontProxy;
}
