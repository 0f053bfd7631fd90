/**
 * The Kubernetes webhook service (SubjectAccessReview and TokenReview):
 * what other folders (the CLI, tests) may use.
 */
export { loadKubernetesWebhookConfig, parseKubernetesWebhookConfig, KUBERNETES_WEBHOOK_DEFAULTS } from './config.js';
export type { KubernetesWebhookConfig } from './config.js';
export { startKubernetesWebhook } from './service.js';
export type { KubernetesWebhookDependencies, RunningKubernetesWebhook } from './service.js';
export { Reviews, TOKEN_REVIEW_FAILED } from './reviews.js';
export type { AccessReviewer, ReviewChannel, ReviewStats, ReviewsOptions, TokenReviewing } from './reviews.js';
export { LiveAuthorizer } from './live-authorizer.js';
export type { LiveAuthorizerStats } from './live-authorizer.js';
export { ReviewInputError, INVALID_REVIEW, accessReviewOf, tokenReviewRequestOf } from './review-input.js';
export { parseSubjectAccessReview, subjectAccessReviewResponse, SUBJECT_ACCESS_REVIEW } from './subject-access-review-json.js';
export type { SubjectAccessReviewObject } from './subject-access-review-json.js';
export { parseTokenReview, tokenReviewResponse, TOKEN_REVIEW } from './token-review-json.js';
export type { TokenReviewObject } from './token-review-json.js';
export { KUBERNETES_REVIEW_SERVICE } from './grpc-listener.js';
export { HEALTH_PATH, READY_PATH } from './https-listener.js';
export { clientNames, isAllowedClient } from './client-names.js';
export { TokenReviewer, TokenReviewCode } from './token-reviewer.js';
export type { TokenReviewerOptions, TokenReviewerStats } from './token-reviewer.js';
export { readBreakGlassTokens, readBreakGlassTokensFile } from './break-glass-tokens.js';
export type { BreakGlassToken } from './break-glass-tokens.js';
export type { TokenReviewRequest, TokenReviewVerdict } from './types.js';
export { runKubernetesWebhook } from './cli.js';
