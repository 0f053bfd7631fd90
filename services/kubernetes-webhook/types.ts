/**
 * The webhook service's own data: a TokenReview's question and answer, as
 * the HTTPS and gRPC listeners hand them to the reviewers and back.
 */
import type { KubernetesUser } from '../../gateway/kubernetes/index.js';

/** `spec` of a TokenReview. */
export interface TokenReviewRequest {
  readonly token: string;
  /** `spec.audiences`; empty: the configured audiences of the token's issuer apply. */
  readonly audiences: readonly string[];
}

/** `status` of a TokenReview. Never `authenticated` without a user. */
export type TokenReviewVerdict =
  | {
      readonly authenticated: true;
      readonly user: KubernetesUser;
      /** The intersection of `spec.audiences` (or the issuer's configured audiences) and the token's `aud`. */
      readonly audiences: readonly string[];
      /** Name of the break-glass token entry that authenticated, when one did. */
      readonly breakGlass?: string;
    }
  | {
      readonly authenticated: false;
      /** Returned to the apiserver in `status.error`; never contains the token. */
      readonly error: string;
      /** A stable code for logs and metrics (TOKEN_… from the gateway, or this service's own). */
      readonly code: string;
    };
