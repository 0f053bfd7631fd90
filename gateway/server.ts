/**
 * Wiring only: the gRPC server that serves ext_authz Check, health,
 * reflection and the Explain RPC on one port, over h2c or (m)TLS. Check is
 * answered on node:http2 directly, the rest by grpc-js (docs/transport.md).
 */
import * as grpc from '@grpc/grpc-js';
import { Authorizer, type Authenticator, type CheckOutcome, type PolicySource } from './authorizer.js';
import { createDecisionLogger, type DecisionLogStats } from './decision-log/index.js';
import type { GatehouseConfig } from './config/config.js';
import { connectionCertificate, sessionCertificate } from './connection-certificate.js';
import { CheckCodec } from './envoy/check-codec.js';
import { loadPackageDefinition, loadProtobufRoot, reflectionDefinition } from './envoy/descriptors.js';
import type { RawCheckRequest } from './envoy/check-request.js';
import { toCheckRequest } from './envoy/short-form.js';
import { HealthStatus } from './health.js';
import { ShadowCounters, type ShadowStats } from './policy/index.js';
import type { Logger } from './log.js';
import { grpcJsStreamHandler, startListener, type UnaryMethod } from './transport/index.js';
import type { CheckTelemetry } from './telemetry/index.js';

/** Fully-qualified names of the services on the port. */
export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const POLICY_SERVICE = 'gatehouse.policy.v1.PolicyService';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface RunningServer {
  readonly port: number;
  readonly health: HealthStatus;
  /** Stops taking new Checks, lets in-flight ones finish (up to the drain timeout), then closes. */
  drain(): Promise<void>;
  /** Counters for the metrics layer: shadow divergences, decision log lines. */
  stats(): ServerStats;
}

export interface ServerStats {
  /** Shadow evaluations and divergences of served Checks (not of Explain calls). */
  readonly shadow: ShadowStats;
  /** Absent when decision logs are off. */
  readonly decisionLog?: DecisionLogStats;
}

export interface ServerDependencies {
  readonly config: GatehouseConfig;
  readonly policies: PolicySource;
  readonly log: Logger;
  /** Request authentication (tokens); without it every request is token-less. */
  readonly authenticator?: Authenticator;
  /** Told about every answered Check (metrics, spans); absent when nothing consumes telemetry. */
  readonly telemetry?: CheckTelemetry;
}

/**
 * Starts the server and resolves once it is listening.
 *
 * @example
 * const server = await startServer({ config, policies: store, log });
 * process.on('SIGTERM', () => void server.drain());
 */
export async function startServer({ config, policies, log, authenticator: tokens, telemetry }: ServerDependencies): Promise<RunningServer> {
  const definition = loadPackageDefinition();
  const authorizer = new Authorizer(config, policies, tokens);
  const decisions = createDecisionLogger(config.decisionLog, log);
  const shadowCounters = new ShadowCounters();
  // Checks are timed only for a consumer of the time: the decision log, telemetry.
  const timed = decisions !== undefined || telemetry !== undefined;
  const health = new HealthStatus([AUTHORIZATION_SERVICE, POLICY_SERVICE]);
  // Bound to no port: the listener hands it the streams of every method but Check.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES, 'grpc.enable_channelz': 0 });

  const tls = config.tls !== undefined;
  // Reflection is for people and tools, not for Envoy: it is registered after the first
  // Check is answered (or a moment after start), so it never delays a cold start.
  const registerReflection = once(() => void addReflection(server, log));
  const root = loadProtobufRoot();
  const codec = new CheckCodec(
    root.lookupType('envoy.service.auth.v3.CheckRequest'),
    root.lookupType('envoy.service.auth.v3.CheckResponse'),
    config,
  );
  const checkPath = serviceOf(definition, AUTHORIZATION_SERVICE).Check!.path;
  // Check is answered on node:http2 directly (transport/); grpc-js serves the other services.
  const check: UnaryMethod = (bytes, responder) => {
    const request = codec.decodeRequest(bytes);
    const started = timed ? performance.now() : 0;
    return authorizer.check(request, tls ? sessionCertificate(responder.stream.session) : undefined).then((outcome) => {
      const response = codec.encodeResponse(outcome);
      const latencyMs = timed ? performance.now() - started : 0;
      responder.respond(response);
      // After answering: counting and logging never delay the response.
      if (outcome.shadow !== undefined) shadowCounters.record(outcome.shadow);
      decisions?.write(outcome, latencyMs);
      telemetry?.answered(outcome, started, latencyMs);
      registerReflection();
    });
  };
  server.addService(serviceOf(definition, POLICY_SERVICE), {
    Explain: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      let raw: RawCheckRequest;
      try {
        raw = toCheckRequest(call.request);
      } catch (error) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
        return;
      }
      void authorizer.check(raw, connectionCertificate(call)).then((outcome) => callback(null, explainResponse(outcome)));
    },
  });
  server.addService(serviceOf(definition, HEALTH_SERVICE), health.handlers());

  const listener = await startListener({
    host: config.listen.host,
    port: config.listen.port,
    ...(config.tls === undefined ? {} : { tls: config.tls }),
    methods: new Map([[checkPath, check]]),
    fallback: grpcJsStreamHandler(server),
    maxReceiveBytes: MAX_RECEIVE_BYTES,
  });
  const port = listener.port;
  setTimeout(registerReflection, REFLECTION_DELAY_MS).unref();
  log.info({ port, tls: config.tls !== undefined, mtls: config.tls?.requireClientCert ?? false }, 'serving');

  let draining: Promise<void> | undefined;
  const drain = (): Promise<void> => {
    draining ??= new Promise<void>((resolve) => {
      health.setAll('NOT_SERVING');
      health.closeWatchers();
      log.info({ graceSeconds: config.drainSeconds }, 'draining');
      void listener.drain(config.drainSeconds * 1000).then((outcome) => {
        if (outcome === 'timed out') log.warn('drain timed out; closing remaining calls');
        else log.info('drained');
        // Decision lines still buffered (a file destination) are written out before the process exits.
        void (decisions?.flush() ?? Promise.resolve()).then(resolve);
      });
    });
    return draining;
  };
  const stats = (): ServerStats => ({
    shadow: shadowCounters.stats(),
    ...(decisions === undefined ? {} : { decisionLog: decisions.stats() }),
  });
  return { port, health, drain, stats };
}

const REFLECTION_DELAY_MS = 1000;
/** Largest request message, as grpc-js's default. */
const MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

async function addReflection(server: grpc.Server, log: Logger): Promise<void> {
  try {
    const { ReflectionService } = await import('@grpc/reflection');
    new ReflectionService(reflectionDefinition()).addToServer(server);
  } catch (error) {
    log.warn({ err: error instanceof Error ? error.message : String(error) }, 'server reflection unavailable');
  }
}

/** Wraps `fn` so that only its first call runs. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

function serviceOf(definition: ReturnType<typeof loadPackageDefinition>, name: string): grpc.ServiceDefinition {
  const service = definition[name];
  if (!service || !('Check' in service || 'Explain' in service || 'Watch' in service)) {
    throw new Error(`service ${name} is missing from the descriptor set; run the build`);
  }
  return service;
}

function explainResponse(outcome: CheckOutcome): Record<string, unknown> {
  const { decision } = outcome;
  return {
    outcome: decision.allowed ? 'OUTCOME_ALLOW' : 'OUTCOME_DENY',
    http_status: outcome.httpStatus,
    code: decision.code,
    reason: decision.reason,
    decision_id: outcome.decisionId,
    policies: decision.trace.map((trace) => ({
      policy: trace.policy,
      action: trace.action,
      matched: trace.matched,
      rule: trace.rule,
    })),
    ...(outcome.shadow === undefined
      ? {}
      : {
          shadow: {
            outcome: outcome.shadow.decision.allowed ? 'OUTCOME_ALLOW' : 'OUTCOME_DENY',
            code: outcome.shadow.decision.code,
            reason: outcome.shadow.decision.reason,
            policies: outcome.shadow.policies,
            diverged: outcome.shadow.diverged,
          },
        }),
  };
}
