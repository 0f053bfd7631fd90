/**
 * Parses Envoy's `x-forwarded-client-cert` header
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert).
 * Syntax only: whether the header is believed is peer.ts's decision.
 */

/** One element of the header: what one proxy saw of its client's certificate. */
export interface XfccElement {
  /** URI SANs of the proxy that appended this element (`By`, repeatable). */
  readonly by: readonly string[];
  /** SHA-256 of the client certificate, hex (`Hash`). */
  readonly hash?: string;
  /** The client certificate, URL-encoded PEM, as sent (`Cert`). */
  readonly cert?: string;
  /** The client certificate chain, URL-encoded PEM, as sent (`Chain`). */
  readonly chain?: string;
  /** The client certificate's subject (`Subject`). */
  readonly subject?: string;
  /** URI SANs of the client certificate (`URI`, repeatable). */
  readonly uris: readonly string[];
  /** DNS SANs of the client certificate (`DNS`, repeatable). */
  readonly dns: readonly string[];
}

/** The parsed header, leftmost (oldest hop) element first; or why it cannot be read. */
export type XfccResult = { readonly ok: true; readonly elements: readonly XfccElement[] } | { readonly ok: false; readonly reason: string };

export interface XfccParseOptions {
  /** Default {@link defaultMaxXfccBytes}. */
  readonly maxBytes?: number;
  /** Default {@link defaultMaxXfccElements}. */
  readonly maxElements?: number;
}

export const defaultMaxXfccBytes = 16 * 1024;
export const defaultMaxXfccElements = 16;

type Key = 'by' | 'hash' | 'cert' | 'chain' | 'subject' | 'uri' | 'dns';
const knownKeys: Readonly<Record<string, Key>> = {
  by: 'by',
  hash: 'hash',
  cert: 'cert',
  chain: 'chain',
  subject: 'subject',
  uri: 'uri',
  dns: 'dns',
};
const repeatableKeys: ReadonlySet<Key> = new Set(['by', 'uri', 'dns']);
const displayKeys: Readonly<Record<Key, string>> = {
  by: 'By',
  hash: 'Hash',
  cert: 'Cert',
  chain: 'Chain',
  subject: 'Subject',
  uri: 'URI',
  dns: 'DNS',
};

/**
 * Parses an XFCC header value: elements separated by `,`, each a list of
 * `Key=Value` pairs separated by `;`. Values may be double-quoted (Envoy
 * quotes any value containing `,` `;` `=` or `"`, and always quotes
 * `Subject`); inside quotes `\"` is a quote and `\\` a backslash. Keys are
 * matched case-insensitively. Values may be empty (Envoy writes `Subject=""`
 * for an empty subject). Unknown keys are skipped, as Envoy itself passes
 * them through untouched, but must still be well-formed. Never throws.
 *
 * @example
 * parseXfcc('By=spiffe://cluster.local/ns/gw/sa/ingress;Hash=ab12;URI=spiffe://cluster.local/ns/default/sa/reminder');
 * // { ok: true, elements: [{ by: ['spiffe://…/ingress'], hash: 'ab12', uris: ['spiffe://…/reminder'], dns: [] }] }
 */
export function parseXfcc(header: string, opts: XfccParseOptions = {}): XfccResult {
  const maxBytes = opts.maxBytes ?? defaultMaxXfccBytes;
  const maxElements = opts.maxElements ?? defaultMaxXfccElements;
  if (typeof header !== 'string') return fail('header is not a string');
  if (header.length > maxBytes || Buffer.byteLength(header, 'utf8') > maxBytes) {
    return fail(`header is larger than ${maxBytes} bytes`);
  }
  if (header.trim() === '') return fail('header is empty');

  const elements: XfccElement[] = [];
  const scanner = new Scanner(header);
  for (;;) {
    if (elements.length === maxElements) return fail(`header has more than ${maxElements} elements`);
    const element = readElement(scanner, elements.length + 1);
    if (typeof element === 'string') return fail(element);
    elements.push(element);
    if (scanner.done()) return { ok: true, elements };
    scanner.next(); // the ',' that ended the element
  }
}

interface MutableElement {
  by: string[];
  hash?: string;
  cert?: string;
  chain?: string;
  subject?: string;
  uris: string[];
  dns: string[];
}

/** Reads one element up to (not including) its terminating `,` or the end. Returns a reason on error. */
function readElement(scanner: Scanner, position: number): XfccElement | string {
  const element: MutableElement = { by: [], uris: [], dns: [] };
  const where = `element ${position}`;
  let pairs = 0;
  for (;;) {
    scanner.skipSpaces();
    const keyStart = scanner.offset;
    while (!scanner.done() && !'=;,"'.includes(scanner.peek())) scanner.next();
    const rawKey = scanner.text.slice(keyStart, scanner.offset).trim();
    if (scanner.done() || scanner.peek() !== '=') {
      if (rawKey === '' && pairs === 0) return `${where} is empty`;
      if (rawKey === '') return `${where} has an empty pair`;
      return `${where}: pair ${quoteForReason(rawKey)} has no '='`;
    }
    if (rawKey === '') return `${where} has a pair with an empty key`;
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(rawKey)) return `${where} has a malformed key ${quoteForReason(rawKey)}`;
    scanner.next(); // '='

    const value = readValue(scanner, where, rawKey);
    if (value.error !== undefined) return value.error;
    pairs++;

    const key = knownKeys[rawKey.toLowerCase()];
    if (key !== undefined) {
      const problem = assign(element, key, value.text);
      if (problem) return `${where}: ${problem}`;
    }

    scanner.skipSpaces();
    if (scanner.done() || scanner.peek() === ',') return element;
    if (scanner.peek() !== ';') return `${where}: unexpected ${quoteForReason(scanner.peek())} after the value of ${rawKey}`;
    scanner.next(); // ';'
  }
}

function readValue(scanner: Scanner, where: string, key: string): { text: string; error?: undefined } | { error: string } {
  scanner.skipSpaces();
  if (scanner.peek() !== '"') {
    const start = scanner.offset;
    while (!scanner.done() && !';,'.includes(scanner.peek())) {
      if (scanner.peek() === '"') return { error: `${where}: unexpected '"' inside the unquoted value of ${key}` };
      scanner.next();
    }
    return { text: scanner.text.slice(start, scanner.offset).trim() };
  }

  scanner.next(); // opening quote
  let text = '';
  for (;;) {
    if (scanner.done()) return { error: `${where}: unterminated quoted value of ${key}` };
    const char = scanner.next();
    if (char === '"') return { text };
    if (char === '\\' && !scanner.done() && (scanner.peek() === '"' || scanner.peek() === '\\')) {
      text += scanner.next();
      continue;
    }
    text += char;
  }
}

function assign(element: MutableElement, key: Key, value: string): string | undefined {
  if (repeatableKeys.has(key)) {
    const list = key === 'by' ? element.by : key === 'uri' ? element.uris : element.dns;
    list.push(value);
    return undefined;
  }
  const single = key as Exclude<Key, 'by' | 'uri' | 'dns'>;
  if (element[single] !== undefined) return `${displayKeys[key]} appears more than once`;
  element[single] = value;
  return undefined;
}

/** Quoted and truncated, with non-printable characters escaped, so reasons are safe to log. */
function quoteForReason(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(shown).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

class Scanner {
  offset = 0;
  constructor(readonly text: string) {}
  done(): boolean {
    return this.offset >= this.text.length;
  }
  peek(): string {
    return this.text[this.offset] ?? '';
  }
  next(): string {
    return this.text[this.offset++] ?? '';
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.offset++;
  }
}

function fail(reason: string): XfccResult {
  return { ok: false, reason };
}
