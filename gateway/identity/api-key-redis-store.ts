/**
 * API keys in Redis, under the gateway's own connection and key prefix:
 * `<prefix>api-key:<id>` holds the record as JSON. The gateway only reads
 * (one GET per cache miss); `gatehouse api-key` creates, revokes and lists.
 */
import type { Cluster } from 'ioredis';
import type { RedisClient } from '../cache/redis.js';
import { readApiKeyRecord, storedApiKeyRecord, type ApiKeyRecord } from './api-key-record.js';
import { apiKeyRetentionMs, type ApiKeyAdministration, type ApiKeyLookup, type ApiKeyStore } from './api-key-store.js';

/** Stored records are small; anything larger is not one of ours. */
const MAX_RECORD_BYTES = 8192;

/**
 * @example
 * const store = new RedisApiKeyStore(shared.redis.commands, shared.redis.keyPrefix);
 * const lookup = await store.find('3f9c2a7d1e4b8a60');
 */
export class RedisApiKeyStore implements ApiKeyStore, ApiKeyAdministration {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  /** The Redis key of a record. */
  keyOf(id: string): string {
    return `${this.keyPrefix}api-key:${id}`;
  }

  async find(id: string): Promise<ApiKeyLookup> {
    let stored: string | null;
    try {
      stored = await this.redis.get(this.keyOf(id));
    } catch (error) {
      return { kind: 'unavailable', reason: `redis: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (stored === null) return { kind: 'absent' };
    const record = parseStored(stored, id);
    return record === undefined ? { kind: 'unavailable', reason: `the stored record of ${id} is not valid` } : { kind: 'found', record };
  }

  /** Kept until `apiKeyRetentionMs` after `notAfter`; without `notAfter`, until revoked. */
  async create(record: ApiKeyRecord): Promise<void> {
    const value = JSON.stringify(storedApiKeyRecord(record));
    const created =
      record.notAfter === undefined
        ? await this.redis.set(this.keyOf(record.id), value, 'NX')
        : await this.redis.set(this.keyOf(record.id), value, 'PXAT', record.notAfter + apiKeyRetentionMs, 'NX');
    if (created !== 'OK') throw new Error(`an API key with id ${record.id} exists already`);
  }

  /** Revoked records are kept for `apiKeyRetentionMs` (or less, when they expire sooner), then dropped. */
  async revoke(id: string, at: number): Promise<ApiKeyRecord | undefined> {
    const key = this.keyOf(id);
    const stored = await this.redis.get(key);
    if (stored === null) return undefined;
    const record = parseStored(stored, id);
    if (record === undefined) throw new Error(`the stored record of ${id} is not valid; delete ${key} to revoke it`);
    if (record.revokedAt !== undefined) return record;
    const revoked = { ...record, revokedAt: at };
    // XX: a record deleted meanwhile stays deleted; KEEPTTL: its expiry is shortened below, never lengthened.
    await this.redis.set(key, JSON.stringify(storedApiKeyRecord(revoked)), 'KEEPTTL', 'XX');
    const remaining = await this.redis.pttl(key);
    if (remaining === -1 || remaining > at + apiKeyRetentionMs - Date.now()) await this.redis.pexpireat(key, at + apiKeyRetentionMs);
    return revoked;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const nodes: RedisClient[] = isCluster(this.redis) ? this.redis.nodes('master') : [this.redis];
    const pattern = `${escapeGlob(this.keyPrefix)}api-key:*`;
    const records: ApiKeyRecord[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        const values = await Promise.all(keys.map((key) => this.redis.get(key)));
        keys.forEach((key, i) => {
          const value = values[i];
          const record = value === null || value === undefined ? undefined : parseStored(value, key.slice(key.lastIndexOf(':') + 1));
          if (record) records.push(record);
        });
      } while (cursor !== '0');
    }
    return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

/** A stored record, only when it is valid and is the record of `id`. */
function parseStored(stored: string, id: string): ApiKeyRecord | undefined {
  if (stored.length > MAX_RECORD_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    return undefined;
  }
  const reading = readApiKeyRecord(value);
  return reading.ok && reading.record.id === id ? reading.record : undefined;
}

/** SCAN MATCH treats `*?[]\` specially; a prefix must match itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Told apart without importing ioredis, which replicas without Redis never load. */
function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
