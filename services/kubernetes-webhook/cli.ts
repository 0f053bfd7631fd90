/**
 * `gatehouse kubernetes-webhook serve --config <file>`: load and check the
 * configuration and policies (failing fast), serve, and on SIGTERM/SIGINT
 * stop being ready, finish the reviews in flight and exit.
 */
import { runServeCommand } from '../shared/serve-command.js';
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
export function runKubernetesWebhook(args: readonly string[], configPath: string | undefined): Promise<number> {
  return runServeCommand(
    { name: 'kubernetes-webhook', usage: KUBERNETES_WEBHOOK_USAGE, load: loadKubernetesWebhookConfig, start: startKubernetesWebhook },
    args,
    configPath,
  );
}
