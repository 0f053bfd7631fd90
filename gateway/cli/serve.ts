/**
 * `gatehouse serve`: load config and policies (failing fast on any error),
 * open shared state (Redis when configured), start the server and, when
 * enabled, the admin listener; watch the policies; drain on SIGTERM/SIGINT.
 */
import { startAdminServer } from '../admin-server.js';
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import type { OpenCredentials } from '../identity/credential-setup.js';
import { TokenAuthenticator } from '../identity/token-authenticator.js';
import { createLogger } from '../log.js';
import { PolicyStore, policyStoreOptions } from '../policy/watch.js';
import { startServer, type RunningServer } from '../server.js';
import { openSharedState, type SharedState } from '../shared-state.js';
import { GatewayTelemetry, readTelemetryEnvironment, redactedConfig, startAdminHttp, type RunningAdminHttp } from '../telemetry/index.js';

/**
 * Reports Redis as its own health entry (`gatehouse.shared-state`): a detail
 * for operators, not a reason to stop deciding, so the server's overall
 * status stays SERVING while Redis is down.
 */
function watchSharedStateHealth(server: RunningServer, shared: SharedState): NodeJS.Timeout {
  const update = (): void => {
    if (server.health.get('') !== 'SERVING') return;
    const healthy = (shared.store?.healthy ?? false) && shared.revocation.connected();
    server.health.set(SHARED_STATE_HEALTH, healthy ? 'SERVING' : 'NOT_SERVING');
  };
  update();
  const timer = setInterval(update, 1000);
  timer.unref();
  return timer;
}

const SHARED_STATE_HEALTH = 'gatehouse.shared-state';

export async function runServe(configPath: string | undefined): Promise<number> {
  const config = await loadConfig(configPath ?? DEMO_CONFIG_PATH, process.env);
  const log = createLogger(config.log.level);
  if (!configPath) log.info({ config: 'built-in demo (todo application)' }, 'no --config given; using the demo configuration');
  // OTEL_* variables are read (and refused when unsupported) now; the SDK itself loads after start-up.
  const telemetry = new GatewayTelemetry({
    environment: readTelemetryEnvironment(process.env),
    prometheus: config.telemetry.adminHttp.enabled,
    log,
  });
  // Signals are taken from the start: one that arrives while starting stops the process cleanly, never by default action.
  let stop = (signal: string): void => {
    log.info({ signal }, 'stopped while starting');
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const policies = await PolicyStore.open(config.policies.paths, policyStoreOptions(config), log);
  if (config.policies.watch) await policies.watch();

  const shared = await openSharedState(config, process.env, log);
  // Keys are fetched in the background (from Redis first, then the IdP): start-up never waits on the IdP.
  void shared.keys.prefetch(policies.currentAuthentication().issuers);
  policies.onReload((snapshot) => void shared.keys.prefetch(snapshot.authentication.issuers));
  const tokens = new TokenAuthenticator({
    rules: policies,
    keys: shared.keys,
    cache: shared.cache,
    maxTokenBytes: config.jwt.maxTokenBytes,
    delegation: policies,
  });
  // API keys and client-credentials mappings wrap the token stage; their code loads only when configured.
  let credentials: OpenCredentials | undefined;
  if (config.apiKeys !== undefined || (config.clientCredentials ?? []).length > 0) {
    const { openCredentials } = await import('../identity/credential-setup.js');
    credentials = await openCredentials(config, { tokens, rules: policies, shared, log }).catch(async (error: unknown) => {
      // An invalid key file fails start-up; Redis must not keep the process alive meanwhile.
      await shared.close();
      throw error;
    });
  }
  let authenticator = credentials?.authenticator ?? tokens;
  // kube-apiserver traffic gets the Kubernetes front proxy; other workloads keep the stage above. Loaded only when configured.
  if (config.kubernetesFrontProxy !== undefined) {
    const { openKubernetesFrontProxy } = await import('../kubernetes/front-proxy-setup.js');
    authenticator = await openKubernetesFrontProxy(config, config.kubernetesFrontProxy, {
      next: authenticator,
      shared,
      onPolicyReload: (listener) => policies.onReload(listener),
      log,
    }).catch(async (error: unknown) => {
      credentials?.close();
      await shared.close();
      throw error;
    });
  }

  const server = await startServer({ config, policies, log, authenticator, telemetry: telemetry.checks });
  const store = shared.store;
  telemetry.observe({
    server: () => server.stats(),
    policies: () => policies.stats(),
    tokenCache: () => shared.cache.stats(),
    jwks: () => shared.keys.stats(),
    ...(store ? { redis: () => store.stats(), redisConnected: () => store.healthy && shared.revocation.connected() } : {}),
  });
  // Set once they run; the stop below closes whatever has started.
  let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined = undefined;
  let adminHttp: RunningAdminHttp | undefined = undefined;
  let sharedHealth: NodeJS.Timeout | undefined = undefined;
  stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    policies.close();
    credentials?.close();
    clearInterval(sharedHealth);
    // The admin HTTP port stays up while draining, so /readyz says 503 until the process exits.
    void Promise.all([server.drain(), admin?.close()])
      .then(() => Promise.all([adminHttp?.close(), telemetry.shutdown()]))
      .then(() => shared.close())
      // A step that fails must not keep the process alive: the drain is over, so it exits either way.
      .catch((error: unknown) => log.error({ err: error instanceof Error ? error.message : String(error) }, 'shutdown step failed'))
      .finally(() => process.exit(0));
  };
  admin = config.admin.enabled ? await startAdminServer(config.admin, shared.revocation, log) : undefined;
  adminHttp = config.telemetry.adminHttp.enabled
    ? await startAdminHttp({
        host: config.telemetry.adminHttp.host,
        port: config.telemetry.adminHttp.port,
        ready: () => server.health.get('') === 'SERVING',
        configView: () => redactedConfig(config),
        metrics: telemetry.serveMetrics,
        log,
      }).catch((error: unknown) => {
        // Telemetry never stops decisions: without its port the replica still answers Checks (and gRPC health).
        log.error({ err: error instanceof Error ? error.message : String(error) }, 'admin http port unavailable; serving without it');
        return undefined;
      })
    : undefined;
  sharedHealth = shared.redis ? watchSharedStateHealth(server, shared) : undefined;
  return 0;
}
