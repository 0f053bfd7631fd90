/**
 * What the companion services' listeners share: binding a grpc-js server,
 * and closing it or an HTTPS server gracefully, letting calls in flight
 * finish for a grace period before the rest are cut.
 */
import type { Server as HttpsServer } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import type { HealthStatus } from '../../gateway/health.js';

/**
 * Binds `server` and resolves with the port it listens on (the real one when `port` is 0).
 *
 * @example
 * const port = await bindGrpcServer(server, '0.0.0.0', 9443, credentials);
 */
export function bindGrpcServer(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
}

/** Reports NOT_SERVING, ends health watches, lets calls in flight finish for `graceMs`, then cuts the rest. */
export function closeGrpcServer(server: grpc.Server, health: HealthStatus, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    health.setAll('NOT_SERVING');
    health.closeWatchers();
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    force.unref();
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** Stops accepting connections, closes idle ones, lets requests in flight finish for `graceMs`, then cuts the rest. */
export function closeHttpsServer(server: HttpsServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
