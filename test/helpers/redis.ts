/**
 * Real Redis servers for tests: the one named by `REDIS_URL`, or
 * `redis-server` processes spawned on free ports (no persistence), single or
 * as a three-master cluster. Every spawned process is killed by `stop()`;
 * register it with `t.teardown`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A unique key prefix, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(name = 'test'): string {
  return `gatehouse-test:${name}:${randomBytes(4).toString('hex')}:`;
}

/**
 * Whether a PTTL read `sinceMs` (a `performance.now()` taken just before the
 * key was written) is the TTL `expectedMs` the writer set: at most that, and
 * no less than it minus the time that has really passed, so a slow machine
 * widens the bound instead of failing the test.
 */
export function ttlMatches(ttlMs: number, expectedMs: number, sinceMs: number): boolean {
  const elapsed = performance.now() - sinceMs;
  return ttlMs <= expectedMs && ttlMs >= expectedMs - Math.ceil(elapsed) - 1;
}

/** A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Answers whether a Redis at `port` replies to PING. */
async function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface SpawnedRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL the server (a crash, not a shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Kills it for good and removes its folder. */
  stop(): Promise<void>;
}

export interface SpawnRedisOptions {
  readonly port?: number;
  /** Extra `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  readonly args?: readonly string[];
  /** Run as a Sentinel monitoring the master at this port under this name (quorum 1). */
  readonly sentinelOf?: { readonly masterName: string; readonly port: number };
}

/**
 * Spawns `redis-server` on a free port with persistence off and `DEBUG`
 * allowed (for `DEBUG SLEEP`), and waits until it answers PING.
 *
 * @example
 * const redis = await spawnRedis();
 * t.teardown(() => redis.stop());
 */
export async function spawnRedis(options: SpawnRedisOptions = {}): Promise<SpawnedRedis> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  let child: ChildProcess | undefined;
  const serverArgs = (): string[] => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--enable-debug-command',
    'yes',
    ...(options.args ?? []),
  ];

  const start = async (): Promise<void> => {
    const args = options.sentinelOf ? sentinelArgs(dir, port, options.sentinelOf) : serverArgs();
    const spawned = spawn('redis-server', args, { stdio: 'ignore' });
    child = spawned;
    let exited = false;
    spawned.once('exit', () => {
      exited = true;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`redis-server on port ${port} exited at start`);
        return pings(port);
      },
      5000,
      `redis-server on port ${port}`,
    );
  };

  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Sentinel needs a writable configuration file; it rewrites it as it learns the topology. */
function sentinelArgs(dir: string, port: number, of: { masterName: string; port: number }): string[] {
  const file = join(dir, 'sentinel.conf');
  writeFileSync(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${of.masterName} 127.0.0.1 ${of.port} 1`,
      `sentinel down-after-milliseconds ${of.masterName} 1000`,
      '',
    ].join('\n'),
  );
  return [file, '--sentinel'];
}

/** A Redis URL for tests and how to let go of it. */
export interface TestRedis {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * `REDIS_URL` when set (shared: use `uniquePrefix()`), otherwise a spawned
 * `redis-server` of the test's own.
 */
export async function redisUrlForTests(): Promise<TestRedis> {
  const shared = process.env['REDIS_URL'];
  if (shared) return { url: shared, stop: async () => {} };
  const spawned = await spawnRedis();
  return { url: spawned.url, stop: () => spawned.stop() };
}

export interface SpawnedCluster {
  readonly nodes: readonly SpawnedRedis[];
  /** Seed addresses for `RedisConfig.cluster.nodes`. */
  readonly addresses: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/** A port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port + 10000 < 65536 && (await portIsFree(port + 10000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

/**
 * Spawns `n` masters with cluster mode on, splits the 16384 slots between
 * them (`CLUSTER ADDSLOTSRANGE`), introduces them (`CLUSTER MEET`) and waits
 * for every node to report `cluster_state:ok`.
 */
export async function spawnRedisCluster(n = 3): Promise<SpawnedCluster> {
  const nodes: SpawnedRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freeClusterPort();
      nodes.push(
        await spawnRedis({
          port,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
        }),
      );
    }
    const clients = nodes.map((node) => new Redis(node.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 }));
    try {
      const perNode = Math.ceil(16384 / n);
      await Promise.all(
        clients.map((client, i) =>
          client.call('CLUSTER', 'ADDSLOTSRANGE', String(i * perNode), String(Math.min(16383, (i + 1) * perNode - 1))),
        ),
      );
      const first = clients[0];
      if (!first) throw new Error('a cluster needs at least one node');
      for (const node of nodes.slice(1)) await first.call('CLUSTER', 'MEET', '127.0.0.1', String(node.port));
      await waitFor(
        async () => {
          const infos = await Promise.all(clients.map((client) => client.call('CLUSTER', 'INFO')));
          return infos.every((info) => String(info).includes('cluster_state:ok'));
        },
        15000,
        'cluster_state:ok',
      );
    } finally {
      clients.forEach((client) => client.disconnect());
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, addresses: nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), stop };
}
