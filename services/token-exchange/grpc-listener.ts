/**
 * The gRPC listener: `gatehouse.tokenexchange.v1.TokenExchangeService` and
 * `grpc.health.v1.Health`, over TLS with optional client certificates
 * (verified against the configured CA when presented). The peer's SPIFFE ID
 * comes from the connection's certificate, as on the HTTPS listener.
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadPackageDefinition } from '../../gateway/envoy/descriptors.js';
import { HealthStatus } from '../../gateway/health.js';
import { bindGrpcServer, closeGrpcServer } from '../shared/listeners.js';
import { traceContextOfMetadata } from '../shared/trace-context.js';
import type { Logger } from '../../gateway/log.js';
import type { TokenExchanger } from './exchange.js';
import { OAuthErrorCode, type ClientConnection, type ExchangeRequest, type OAuthError } from './types.js';

export const TOKEN_EXCHANGE_SERVICE = 'gatehouse.tokenexchange.v1.TokenExchangeService';
const HEALTH_SERVICE = 'grpc.health.v1.Health';
/** Trailing metadata carrying the RFC 6749 / RFC 8693 error code of a refused exchange. */
export const OAUTH_ERROR_METADATA = 'oauth-error';

/** The wire form of ExchangeRequest (proto field names, proto3 defaults for absent fields). */
interface ExchangeRequestMessage {
  grant_type?: string;
  subject_token?: string;
  subject_token_type?: string;
  actor_token?: string;
  actor_token_type?: string;
  audience?: string[];
  resource?: string[];
  scope?: string;
  requested_token_type?: string;
}

export interface GrpcListenerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM contents. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer };
  readonly maxMessageBytes: number;
  readonly exchanger: TokenExchanger;
  readonly log: Logger;
}

export interface RunningGrpcListener {
  readonly port: number;
  readonly health: HealthStatus;
  /** NOT_SERVING, then lets calls in flight finish for up to `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/**
 * @example
 * const grpcListener = await startGrpcListener({ host: '0.0.0.0', port: 8444, tls, maxMessageBytes: 65536, exchanger, log });
 */
export async function startGrpcListener(options: GrpcListenerOptions): Promise<RunningGrpcListener> {
  const definition = loadPackageDefinition();
  const service = definition[TOKEN_EXCHANGE_SERVICE] as grpc.ServiceDefinition | undefined;
  if (service === undefined) throw new Error(`${TOKEN_EXCHANGE_SERVICE} is missing from the descriptor set; run the build`);
  const health = new HealthStatus([TOKEN_EXCHANGE_SERVICE]);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
  });
  server.addService(service, {
    Exchange: (call: grpc.ServerUnaryCall<ExchangeRequestMessage, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      void options.exchanger
        .exchange(exchangeRequestOf(call.request), connectionOf(call), traceContextOfMetadata(call.metadata))
        .then((outcome) => {
          if (outcome.ok) {
            const { response } = outcome;
            callback(null, {
              access_token: response.accessToken,
              issued_token_type: response.issuedTokenType,
              token_type: response.tokenType,
              expires_in: response.expiresIn,
              scope: response.scope ?? '',
            });
            return;
          }
          options.log.info({ error: outcome.error.error, reason: outcome.error.description }, 'token exchange refused');
          callback(statusOf(outcome.error));
        });
    },
  });
  server.addService(definition[HEALTH_SERVICE] as grpc.ServiceDefinition, health.handlers());

  const port = await bindGrpcServer(server, options.host, options.port, credentialsOf(options.tls));
  return { port, health, close: (graceMs) => closeGrpcServer(server, health, graceMs) };
}

/** gRPC has no "absent" string: an empty field is an absent parameter; an empty grant_type means token exchange. */
function exchangeRequestOf(message: ExchangeRequestMessage): ExchangeRequest {
  const text = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);
  return {
    grantType: text(message.grant_type) ?? 'urn:ietf:params:oauth:grant-type:token-exchange',
    subjectToken: text(message.subject_token),
    subjectTokenType: text(message.subject_token_type),
    actorToken: text(message.actor_token),
    actorTokenType: text(message.actor_token_type),
    audiences: (message.audience ?? []).filter((value) => value !== ''),
    resources: (message.resource ?? []).filter((value) => value !== ''),
    scope: text(message.scope),
    requestedTokenType: text(message.requested_token_type),
  };
}

/** The verified client certificate of the call's connection (grpc-js reports one only when TLS verified it). */
function connectionOf(call: grpc.ServerUnaryCall<unknown, unknown>): ClientConnection {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw) return {};
  try {
    return { certificate: new X509Certificate(raw) };
  } catch {
    return {};
  }
}

const statusCodes: Record<OAuthErrorCode, grpc.status> = {
  [OAuthErrorCode.InvalidRequest]: grpc.status.INVALID_ARGUMENT,
  [OAuthErrorCode.UnsupportedGrantType]: grpc.status.INVALID_ARGUMENT,
  [OAuthErrorCode.InvalidGrant]: grpc.status.INVALID_ARGUMENT,
  [OAuthErrorCode.InvalidScope]: grpc.status.INVALID_ARGUMENT,
  [OAuthErrorCode.InvalidClient]: grpc.status.UNAUTHENTICATED,
  [OAuthErrorCode.UnauthorizedClient]: grpc.status.PERMISSION_DENIED,
  [OAuthErrorCode.InvalidTarget]: grpc.status.PERMISSION_DENIED,
  [OAuthErrorCode.TemporarilyUnavailable]: grpc.status.UNAVAILABLE,
  [OAuthErrorCode.ServerError]: grpc.status.INTERNAL,
};

/** A refused exchange as a gRPC status: the OAuth code in trailing metadata and at the start of the message. */
export function statusOf(error: OAuthError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(OAUTH_ERROR_METADATA, error.error);
  return { code: statusCodes[error.error], details: `${error.error}: ${error.description}`, metadata };
}

/**
 * TLS with optional client certificates. grpc-js's `createSsl` either
 * requires a client certificate or never asks for one; its certificate
 * provider credentials ask for one and let the call go on without it.
 */
function credentialsOf(tls: GrpcListenerOptions['tls']): grpc.ServerCredentials {
  const provider = new StaticCertificates(tls);
  // One provider serves both the identity and the CA, so the argument order cannot be mixed up.
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/**
 * A CertificateProvider for certificates read once at start-up. grpc-js
 * subscribes to the provider before it registers the server's watcher, so
 * the certificates are handed over a moment later, when the watcher listens.
 */
class StaticCertificates implements grpc.experimental.CertificateProvider {
  constructor(private readonly tls: GrpcListenerOptions['tls']) {}

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    queueMicrotask(() => listener({ caCertificate: this.tls.clientCa }));
  }

  removeCaCertificateListener(): void {}

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => listener({ certificate: this.tls.cert, privateKey: this.tls.key }));
  }

  removeIdentityCertificateListener(): void {}
}
