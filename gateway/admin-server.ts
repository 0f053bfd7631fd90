/**
 * The admin gRPC listener: `gatehouse.admin.v1.AdminService` (revocation).
 * Separate from the Check port and on loopback by default, because whoever
 * reaches it can revoke anyone's tokens.
 */
import * as grpc from '@grpc/grpc-js';
import type { RevocationService } from './cache/index.js';
import type { AdminSettings } from './config/config.js';
import { loadPackageDefinition } from './envoy/descriptors.js';
import type { Logger } from './log.js';

export const ADMIN_SERVICE = 'gatehouse.admin.v1.AdminService';

const MAX_ID_LENGTH = 2048;

export interface RunningAdminServer {
  readonly port: number;
  close(): Promise<void>;
}

interface RevokeTokenRequest {
  jti?: string;
  expires_at?: number;
}

interface RevokeSubjectRequest {
  principal?: string;
  issued_before?: number;
}

/**
 * @example
 * const admin = await startAdminServer(config.admin, shared.revocation, log);
 */
export async function startAdminServer(settings: AdminSettings, revocation: RevocationService, log: Logger): Promise<RunningAdminServer> {
  const server = new grpc.Server();
  server.addService(loadPackageDefinition()[ADMIN_SERVICE] as grpc.ServiceDefinition, {
    RevokeToken: (call: grpc.ServerUnaryCall<RevokeTokenRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const { jti = '', expires_at: expiresAt = 0 } = call.request;
      const invalid = checkId(jti, 'jti') ?? checkTime(expiresAt, 'expires_at');
      if (invalid) return callback({ code: grpc.status.INVALID_ARGUMENT, details: invalid });
      void revocation.revokeToken(jti, expiresAt || undefined).then((outcome) => {
        log.info({ kind: 'jti', shared: outcome.shared }, 'token revoked');
        callback(null, { shared: outcome.shared });
      }, fail(callback));
    },
    RevokeSubject: (call: grpc.ServerUnaryCall<RevokeSubjectRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const { principal = '', issued_before: issuedBefore = 0 } = call.request;
      const invalid = checkId(principal, 'principal') ?? checkTime(issuedBefore, 'issued_before');
      if (invalid) return callback({ code: grpc.status.INVALID_ARGUMENT, details: invalid });
      if (!principal.includes('/')) return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'principal must be iss/sub' });
      void revocation.revokeSubject(principal, issuedBefore || undefined).then((outcome) => {
        log.info({ kind: 'subject', shared: outcome.shared }, 'subject revoked');
        const cutOff = outcome.revocation.kind === 'subject' ? outcome.revocation.issuedBefore : 0;
        callback(null, { shared: outcome.shared, issued_before: cutOff });
      }, fail(callback));
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${settings.host}:${settings.port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  log.info({ port, host: settings.host }, 'admin serving');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

function checkId(value: string, field: string): string | undefined {
  if (value === '') return `${field} is required`;
  if (value.length > MAX_ID_LENGTH) return `${field} is longer than ${MAX_ID_LENGTH} characters`;
  return undefined;
}

function checkTime(value: number, field: string): string | undefined {
  return Number.isSafeInteger(value) && value >= 0 ? undefined : `${field} must be seconds since the epoch`;
}

function fail(callback: grpc.sendUnaryData<unknown>): (error: unknown) => void {
  return (error) => callback({ code: grpc.status.INTERNAL, details: error instanceof Error ? error.message : String(error) });
}
