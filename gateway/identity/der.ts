/**
 * A minimal DER reader: just enough to walk a certificate that Node's
 * X509Certificate has already accepted, for the fields Node does not expose
 * in a structured form (SANs, subject, validity). Private to this folder.
 */

/** One DER element: its tag and where its contents lie in the buffer. */
export interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export const DerTag = {
  Boolean: 0x01,
  OctetString: 0x04,
  ObjectIdentifier: 0x06,
  Utf8String: 0x0c,
  Sequence: 0x30,
  Set: 0x31,
  PrintableString: 0x13,
  TeletexString: 0x14,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  UniversalString: 0x1c,
  BmpString: 0x1e,
} as const;

/** Thrown by the reader on malformed input; callers turn it into a reason. */
export class DerError extends Error {
  override name = 'DerError';
}

/** Reads the element starting at `offset`, which must end at or before `limit`. */
export function readElement(der: Uint8Array, offset: number, limit: number = der.length): DerElement {
  if (offset + 2 > limit) throw new DerError('truncated element header');
  const tag = der[offset] as number;
  // Multi-byte tags never occur in the certificate fields we read.
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tag');
  const first = der[offset + 1] as number;
  let contentStart = offset + 2;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new DerError('unsupported length');
    if (contentStart + count > limit) throw new DerError('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[contentStart + i] as number);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError('element extends past its parent');
  return { tag, start: offset, contentStart, end };
}

/** The elements directly inside a constructed element. */
export function readChildren(der: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readElement(der, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The contents of an element. */
export function contents(der: Uint8Array, element: DerElement): Uint8Array {
  return der.subarray(element.contentStart, element.end);
}

/** An OBJECT IDENTIFIER in dotted form. */
export function readOid(der: Uint8Array, element: DerElement): string {
  if (element.tag !== DerTag.ObjectIdentifier) throw new DerError('expected an OBJECT IDENTIFIER');
  const bytes = contents(der, element);
  if (bytes.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('OBJECT IDENTIFIER arc too large');
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const [head = 0, ...tail] = arcs;
  const first = head < 80 ? Math.floor(head / 40) : 2;
  return [first, head - first * 40, ...tail].join('.');
}

/** A UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: always `Z`, seconds present). */
export function readTime(der: Uint8Array, element: DerElement): Date {
  const text = Buffer.from(contents(der, element)).toString('latin1');
  let match: RegExpExecArray | null;
  let year: number;
  if (element.tag === DerTag.UtcTime) {
    match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!match) throw new DerError('malformed UTCTime');
    const yy = Number(match[1]);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (element.tag === DerTag.GeneralizedTime) {
    match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!match) throw new DerError('malformed GeneralizedTime');
    year = Number(match[1]);
  } else {
    throw new DerError('expected a time');
  }
  const [, , month, day, hour, minute, second] = match.map<number>(Number);
  return new Date(Date.UTC(year, (month ?? 1) - 1, day, hour, minute, second));
}
