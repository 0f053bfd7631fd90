/**
 * Collects request headers from Envoy's two encodings into one map: the
 * `headers` map (HTTP filters) and `header_map` (proxyless gRPC clients and
 * `encode_raw_headers`). Names are lower-cased; repeated headers are joined
 * with `,` as Envoy does for the map form.
 */

export interface HeaderLimits {
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
}

export interface HeaderEntry {
  readonly key?: string;
  readonly value?: string;
  readonly raw_value?: Uint8Array;
}

export type HeaderResult = { ok: true; headers: Map<string, string> } | { ok: false; reason: string };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const TOKEN = /^:?[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** NUL, CR, LF, or the replacement character left by invalid UTF-8. */
const SUSPECT_VALUE = /[\0\r\n\uFFFD]/;

/**
 * Merges both header encodings, enforcing count and size limits and rejecting
 * names that are not HTTP tokens and values that are not valid UTF-8.
 */
export function collectHeaders(
  map: Readonly<Record<string, string>> | undefined,
  list: readonly HeaderEntry[] | undefined,
  limits: HeaderLimits,
): HeaderResult {
  const headers = new Map<string, string>();
  let count = 0;
  let bytes = 0;

  const add = (rawName: string, value: string): string | undefined => {
    // Envoy sends lower-case names already; only other clients' names need lower-casing.
    let name = rawName;
    if (!TOKEN.test(name)) {
      name = rawName.toLowerCase();
      if (!TOKEN.test(name)) return `header name '${printable(rawName)}' is not a valid HTTP token`;
    }
    if (SUSPECT_VALUE.test(value)) {
      return value.includes('\uFFFD') ? `header '${name}' is not valid UTF-8` : `header '${name}' contains a control character`;
    }
    count += 1;
    bytes += name.length + value.length;
    if (count > limits.maxHeaderCount) return `more than ${limits.maxHeaderCount} headers`;
    if (bytes > limits.maxHeaderBytes) return `headers larger than ${limits.maxHeaderBytes} bytes`;
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous},${value}`);
    return undefined;
  };

  for (const name in map) {
    if (!Object.hasOwn(map, name)) continue;
    const problem = add(name, map[name] as string);
    if (problem) return { ok: false, reason: problem };
  }
  for (const entry of list ?? []) {
    let value = entry.value ?? '';
    if (entry.raw_value && entry.raw_value.length > 0) {
      try {
        value = strictUtf8.decode(entry.raw_value);
      } catch {
        return { ok: false, reason: `header '${printable(entry.key ?? '')}' is not valid UTF-8` };
      }
    }
    const problem = add(entry.key ?? '', value);
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true, headers };
}

/** A header name or value safe to put in a reason: ASCII printable, truncated. */
export function printable(text: string, max = 64): string {
  const cleaned = text.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}
