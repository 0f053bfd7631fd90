/**
 * The loaded configuration as `/config` shows it: every setting and file
 * path, never a secret. Gatehouse's configuration holds no secret by design
 * (passwords, keys and certificates are files or environment variables,
 * read at start-up and kept out of it); this view is the second line of
 * defence, for a field a later version might add: secret-named fields,
 * binary values, token-shaped text and passwords in URLs are replaced.
 */
import { REDACTED, scrubTokens } from '../decision-log/redaction.js';

/** Field names whose values are secrets, compared case-insensitively; names ending in `File` or `Env` say where a secret is, and are kept. */
const SECRET_FIELD = /^(?:token|tokens|key|keys|apikey|privatekey|clientsecret|credential|credentials)$|password|passwd|passphrase|secret/i;
const WHERE_A_SECRET_IS = /(?:File|Files|Env|Dir)$/;
/** `scheme://user:password@` */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi;

/**
 * A JSON-ready copy of `value` with secrets replaced by `[redacted]`.
 *
 * @example
 * redactedConfig({ redis: { passwordFile: '/run/secrets/redis', password: 'x' } });
 * // { redis: { passwordFile: '/run/secrets/redis', password: '[redacted]' } }
 */
export function redactedConfig(value: unknown): unknown {
  return redact(value, 0);
}

function redact(value: unknown, depth: number): unknown {
  if (depth > 32) return REDACTED;
  if (typeof value === 'string') return scrubTokens(value.replace(URL_PASSWORD, `$1:${REDACTED}@`));
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Map) return redact(Object.fromEntries(value), depth + 1);
  if (value instanceof Set) return redact([...value], depth + 1);
  const copy: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    if (field === undefined) continue;
    copy[name] = SECRET_FIELD.test(name) && !WHERE_A_SECRET_IS.test(name) ? REDACTED : redact(field, depth + 1);
  }
  return copy;
}
