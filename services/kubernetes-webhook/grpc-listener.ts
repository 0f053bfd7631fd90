/**
 * The gRPC listener: `gatehouse.kubernetes.v1.KubernetesReviewService`,
 * `grpc.health.v1.Health` and server reflection, over TLS with required
 * client certificates (verified against the configured CA during the
 * handshake). The reviews are the HTTPS listener's: same checks, same
 * decisions, same logs.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPackageDefinition, reflectionDefinition } from '../../gateway/envoy/descriptors.js';
import { HealthStatus } from '../../gateway/health.js';
import { bindGrpcServer, closeGrpcServer } from '../shared/listeners.js';
import { traceContextOfMetadata } from '../shared/trace-context.js';
import type { Logger } from '../../gateway/log.js';
import { isAllowedClient } from './client-names.js';
import {
  accessReviewOfMessage,
  subjectAccessReviewResponseOf,
  tokenReviewRequestOfMessage,
  tokenReviewResponseOf,
  type SubjectAccessReviewRequestMessage,
  type TokenReviewRequestMessage,
} from './grpc-messages.js';
import { ReviewInputError } from './review-input.js';
import type { Reviews } from './reviews.js';
import type { TokenReviewRequest } from './types.js';

export const KUBERNETES_REVIEW_SERVICE = 'gatehouse.kubernetes.v1.KubernetesReviewService';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface GrpcListenerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM contents. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer };
  /** Client certificate names allowed to ask (see client-names.ts); empty: any verified certificate. */
  readonly allowedClientNames: readonly string[];
  /** Larger messages are refused by gRPC itself (RESOURCE_EXHAUSTED). */
  readonly maxMessageBytes: number;
  readonly maxTokenBytes: number;
  readonly reviews: Reviews;
  readonly log: Logger;
}

export interface RunningGrpcListener {
  readonly port: number;
  readonly health: HealthStatus;
  /** NOT_SERVING, then lets calls in flight finish for up to `graceMs`. */
  close(graceMs: number): Promise<void>;
}

type Unary<Request, Response> = (call: grpc.ServerUnaryCall<Request, Response>, callback: grpc.sendUnaryData<Response>) => void;

/**
 * @example
 * const grpcListener = await startGrpcListener({ host: '0.0.0.0', port: 8444, tls, allowedClientNames: [], maxMessageBytes, maxTokenBytes, reviews, log });
 */
export async function startGrpcListener(options: GrpcListenerOptions): Promise<RunningGrpcListener> {
  const definition = loadPackageDefinition();
  const service = definition[KUBERNETES_REVIEW_SERVICE] as grpc.ServiceDefinition | undefined;
  if (service === undefined) throw new Error(`${KUBERNETES_REVIEW_SERVICE} is missing from the descriptor set; run the build`);
  const health = new HealthStatus([KUBERNETES_REVIEW_SERVICE]);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': options.maxMessageBytes });
  const { reviews } = options;

  const subjectAccessReview: Unary<SubjectAccessReviewRequestMessage, unknown> = (call, callback) => {
    const refused = refusal(options, call);
    if (refused) return callback(refused);
    try {
      const review = accessReviewOfMessage(call.request);
      callback(null, subjectAccessReviewResponseOf(reviews.subjectAccessReview(review, 'grpc', traceContextOfMetadata(call.metadata))));
    } catch (error) {
      callback(invalid(options, 'SubjectAccessReview', error));
    }
  };
  const tokenReview: Unary<TokenReviewRequestMessage, unknown> = (call, callback) => {
    const refused = refusal(options, call);
    if (refused) return callback(refused);
    let request: TokenReviewRequest;
    try {
      request = tokenReviewRequestOfMessage(call.request, options.maxTokenBytes);
    } catch (error) {
      return callback(invalid(options, 'TokenReview', error));
    }
    void reviews
      .tokenReview(request, 'grpc', traceContextOfMetadata(call.metadata))
      .then((verdict) => callback(null, tokenReviewResponseOf(verdict)));
  };
  server.addService(service, { SubjectAccessReview: subjectAccessReview, TokenReview: tokenReview });
  server.addService(definition[HEALTH_SERVICE] as grpc.ServiceDefinition, health.handlers());
  await addReflection(server, options.log);

  const credentials = grpc.ServerCredentials.createSsl(
    options.tls.clientCa,
    [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
    true,
  );
  const port = await bindGrpcServer(server, options.host, options.port, credentials);
  return { port, health, close: (graceMs) => closeGrpcServer(server, health, graceMs) };
}

/** PERMISSION_DENIED for a verified certificate whose holder is not allowed; the handshake already refused unverified ones. */
function refusal(options: GrpcListenerOptions, call: grpc.ServerUnaryCall<unknown, unknown>): Partial<grpc.StatusObject> | undefined {
  const certificate = call.getAuthContext()?.sslPeerCertificate;
  if (certificate !== undefined && isAllowedClient(certificate, options.allowedClientNames)) return undefined;
  options.log.info({ via: 'grpc' }, 'review refused: the client certificate is not allowed');
  return { code: grpc.status.PERMISSION_DENIED, details: 'the client certificate is not one allowed to ask for reviews' };
}

/** INVALID_ARGUMENT naming the field; anything unexpected is INTERNAL. Neither is ever an allow. */
function invalid(options: GrpcListenerOptions, method: string, error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof ReviewInputError) {
    options.log.info({ via: 'grpc', review: method, field: error.field, reason: error.message }, 'review refused');
    return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
  }
  options.log.error({ via: 'grpc', review: method, err: error instanceof Error ? error.message : String(error) }, 'review failed');
  return { code: grpc.status.INTERNAL, details: 'the review could not be answered' };
}

async function addReflection(server: grpc.Server, log: Logger): Promise<void> {
  try {
    const { ReflectionService } = await import('@grpc/reflection');
    new ReflectionService(reflectionDefinition()).addToServer(server);
  } catch (error) {
    log.warn({ err: error instanceof Error ? error.message : String(error) }, 'server reflection unavailable');
  }
}
