/**
 * `gatehouse kubernetes-webhook serve --config <file>`: load and check the
 * configuration and policies (failing fast), serve, and on SIGTERM/SIGINT
 * stop being ready, finish the reviews in flight and exit.
 */
import { createLogger } from '../../gateway/log.js';
import { loadKubernetesWebhookConfig } from './config.js';
import { startKubernetesWebhook } from './service.js';

export const KUBERNETES_WEBHOOK_USAGE = `Usage: gatehouse kubernetes-webhook serve --config <file>

Answers kube-apiserver's SubjectAccessReview and TokenReview webhooks over HTTPS
(POST <paths.authorize>, POST <paths.authenticate>, /healthz, /readyz) and the same
reviews over gRPC (gatehouse.kubernetes.v1.KubernetesReviewService). See
docs/kubernetes-webhook.md.
`;

/**
 * Runs a `kubernetes-webhook` subcommand; resolves with the exit code (the
 * process keeps serving after `serve` resolves with 0).
 *
 * @example
 * await runKubernetesWebhook(['serve'], 'kubernetes-webhook.yaml');
 */
export async function runKubernetesWebhook(args: readonly string[], configPath: string | undefined): Promise<number> {
  const [subcommand] = args;
  if (subcommand !== 'serve') {
    process.stderr.write(
      subcommand === undefined
        ? KUBERNETES_WEBHOOK_USAGE
        : `unknown kubernetes-webhook command '${subcommand}'\n\n${KUBERNETES_WEBHOOK_USAGE}`,
    );
    return 2;
  }
  if (configPath === undefined) {
    process.stderr.write(`kubernetes-webhook serve needs --config <file>\n\n${KUBERNETES_WEBHOOK_USAGE}`);
    return 2;
  }
  const config = await loadKubernetesWebhookConfig(configPath);
  const log = createLogger(config.log.level).child({ component: 'kubernetes-webhook' });
  const service = await startKubernetesWebhook(config, { log, env: process.env });
  const stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    void service.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}
