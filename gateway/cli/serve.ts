/**
 * `gatehouse serve`: load config and policies (failing fast on any error),
 * start the server, watch the policies, drain on SIGTERM/SIGINT.
 */
import { loadConfig, DEMO_CONFIG_PATH } from '../config/load.js';
import { createLogger } from '../log.js';
import { PolicyStore } from '../policy/watch.js';
import { startServer } from '../server.js';

export async function runServe(configPath: string | undefined): Promise<number> {
  const config = await loadConfig(configPath ?? DEMO_CONFIG_PATH, process.env);
  const log = createLogger(config.log.level);
  if (!configPath) log.info({ config: 'built-in demo (todo application)' }, 'no --config given; using the demo configuration');

  const policies = await PolicyStore.open(
    config.policies.paths,
    { rootNamespace: config.policies.rootNamespace, defaultNamespace: config.policies.defaultNamespace },
    log,
  );
  if (config.policies.watch) await policies.watch();
  const server = await startServer({ config, policies, log });

  const stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    policies.close();
    void server.drain().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}
