/**
 * grpc.health.v1.Health over the compiled descriptor set. "" is the whole
 * server; each served service has its own entry. Draining flips everything
 * to NOT_SERVING so load balancers stop sending new Checks.
 */
import * as grpc from '@grpc/grpc-js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

interface HealthCheckRequest {
  service?: string;
}

interface HealthCheckResponse {
  status: ServingStatus | 'SERVICE_UNKNOWN';
}

/** Serving status per service, with watchers notified on change. */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<{ service: string; call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse> }>();

  constructor(services: readonly string[]) {
    this.statuses.set('', 'SERVING');
    for (const service of services) this.statuses.set(service, 'SERVING');
  }

  /** Sets one service's status, adding the service if it is new; watchers of it are told. */
  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const watcher of this.watchers) if (watcher.service === service) watcher.call.write(this.response(service));
  }

  /** Sets every service to `status` (used when draining). */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.statuses.set(service, status);
    for (const watcher of this.watchers) watcher.call.write(this.response(watcher.service));
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends open Watch streams, so a drained server can close. */
  closeWatchers(): void {
    for (const watcher of this.watchers) watcher.call.end();
    this.watchers.clear();
  }

  /** Handlers for the Health service. */
  handlers(): grpc.UntypedServiceImplementation {
    return {
      Check: (call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) => {
        const service = call.request.service ?? '';
        if (!this.statuses.has(service)) {
          callback({ code: grpc.status.NOT_FOUND, details: `unknown service '${service}'` });
          return;
        }
        callback(null, this.response(service));
      },
      Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const watcher = { service: call.request.service ?? '', call };
        this.watchers.add(watcher);
        call.write(this.response(watcher.service));
        call.on('cancelled', () => this.watchers.delete(watcher));
      },
      List: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const service of this.statuses.keys()) statuses[service] = this.response(service);
        callback(null, { statuses });
      },
    };
  }

  private response(service: string): HealthCheckResponse {
    return { status: this.statuses.get(service) ?? 'SERVICE_UNKNOWN' };
  }
}
