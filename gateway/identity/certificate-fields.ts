/**
 * Reads the identity-bearing fields of a DER certificate: subject alternative
 * names, subject and validity. Node's X509Certificate exposes SANs and the
 * subject only as display strings (with quoting rules that changed between
 * releases), so we read the DER the certificate was built from instead.
 * Private to this folder; certificate.ts is the public entry.
 */
import { contents, DerError, DerTag, readChildren, readElement, readOid, readTime, type DerElement } from './der.js';

/** Everything certificate.ts needs from the DER, before any policy is applied. */
export interface CertificateFields {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  readonly emailSans: readonly string[];
  readonly ipSans: readonly string[];
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const subjectAltNameOid = '2.5.29.17';

/** RFC 5280 §4.2.1.6 GeneralName choices we read (context-specific, implicit IA5String / OCTET STRING). */
const GeneralNameTag = { Rfc822Name: 0x81, DnsName: 0x82, Uri: 0x86, IpAddress: 0x87 } as const;

/** RFC 4514 §3 short names, plus the ones OpenSSL (and so Envoy) prints by name. */
const attributeNames: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/**
 * Reads SANs, subject and validity from a certificate's DER. Throws DerError
 * (or a plain Error with the problem) when the DER is not what RFC 5280 says.
 */
export function readCertificateFields(der: Uint8Array): CertificateFields {
  const certificate = readElement(der, 0);
  if (certificate.tag !== DerTag.Sequence || certificate.end !== der.length) throw new DerError('not a certificate');
  const [tbs] = readChildren(der, certificate);
  if (!tbs || tbs.tag !== DerTag.Sequence) throw new DerError('missing tbsCertificate');
  const fields = readChildren(der, tbs);
  // RFC 5280 §4.1: version is an optional [0] EXPLICIT before serialNumber.
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const validity = fields[base + 3];
  const subject = fields[base + 4];
  if (!validity || validity.tag !== DerTag.Sequence || !subject || subject.tag !== DerTag.Sequence) {
    throw new DerError('tbsCertificate is missing validity or subject');
  }
  const [notBefore, notAfter] = readChildren(der, validity);
  if (!notBefore || !notAfter) throw new DerError('validity is incomplete');

  const sans = readSubjectAltNames(
    der,
    fields.find((field) => field.tag === 0xa3),
  );
  return {
    ...sans,
    subject: formatName(der, subject),
    notBefore: readTime(der, notBefore),
    notAfter: readTime(der, notAfter),
  };
}

interface SubjectAltNames {
  uriSans: string[];
  dnsSans: string[];
  emailSans: string[];
  ipSans: string[];
}

function readSubjectAltNames(der: Uint8Array, extensionsField: DerElement | undefined): SubjectAltNames {
  const names: SubjectAltNames = { uriSans: [], dnsSans: [], emailSans: [], ipSans: [] };
  if (!extensionsField) return names;
  const [extensions] = readChildren(der, extensionsField);
  if (!extensions || extensions.tag !== DerTag.Sequence) throw new DerError('malformed extensions');

  let seen = false;
  for (const extension of readChildren(der, extensions)) {
    const parts = readChildren(der, extension);
    const [oid] = parts;
    const value = parts[parts.length - 1];
    if (!oid || !value || value.tag !== DerTag.OctetString) throw new DerError('malformed extension');
    if (readOid(der, oid) !== subjectAltNameOid) continue;
    // RFC 5280 §4.2: a certificate must not include an extension more than once.
    if (seen) throw new Error('certificate has more than one subjectAltName extension');
    seen = true;
    const generalNames = readElement(der, value.contentStart, value.end);
    if (generalNames.tag !== DerTag.Sequence || generalNames.end !== value.end) {
      throw new DerError('malformed subjectAltName');
    }
    for (const name of readChildren(der, generalNames)) {
      switch (name.tag) {
        case GeneralNameTag.Uri:
          names.uriSans.push(readIa5(der, name, 'URI'));
          break;
        case GeneralNameTag.DnsName:
          names.dnsSans.push(readIa5(der, name, 'DNS'));
          break;
        case GeneralNameTag.Rfc822Name:
          names.emailSans.push(readIa5(der, name, 'email'));
          break;
        case GeneralNameTag.IpAddress:
          names.ipSans.push(formatIp(contents(der, name)));
          break;
        default:
          // otherName, directoryName, registeredID, …: not identities we match on.
          break;
      }
    }
  }
  return names;
}

/** An IA5String SAN. Control characters and non-ASCII bytes are refused: a NUL in a SAN is a known spoofing trick. */
function readIa5(der: Uint8Array, element: DerElement, kind: string): string {
  const bytes = contents(der, element);
  if (bytes.length === 0) throw new Error(`${kind} SAN is empty`);
  for (const byte of bytes) {
    if (byte <= 0x20 || byte >= 0x7f) {
      throw new Error(`${kind} SAN contains a byte that is not printable ASCII (0x${byte.toString(16).padStart(2, '0')})`);
    }
  }
  return Buffer.from(bytes).toString('latin1');
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new Error(`IP SAN has ${bytes.length} bytes, expected 4 or 16`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8;) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
    start += length + 1;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * A Name as an RFC 4514 string, most specific RDN first, the way Envoy
 * reports subjects (`CN=Test Client,OU=Lyft,L=San Francisco,ST=CA,C=US`).
 */
function formatName(der: Uint8Array, name: DerElement): string {
  const rdns = readChildren(der, name).map((rdn) => {
    if (rdn.tag !== DerTag.Set) throw new DerError('malformed RelativeDistinguishedName');
    return readChildren(der, rdn)
      .map((attribute) => formatAttribute(der, attribute))
      .join('+');
  });
  return rdns.reverse().join(',');
}

function formatAttribute(der: Uint8Array, attribute: DerElement): string {
  const [type, value] = readChildren(der, attribute);
  if (!type || !value) throw new DerError('malformed AttributeTypeAndValue');
  const oid = readOid(der, type);
  const text = decodeDirectoryString(der, value);
  const name = attributeNames[oid];
  // RFC 4514 §2.4: unknown types, or values not held in a string type, are written as `#` and the DER in hex.
  if (name === undefined || text === undefined) {
    return `${oid}=#${Buffer.from(der.subarray(value.start, value.end)).toString('hex')}`;
  }
  return `${name}=${escapeAttributeValue(text)}`;
}

function decodeDirectoryString(der: Uint8Array, value: DerElement): string | undefined {
  const bytes = Buffer.from(contents(der, value));
  switch (value.tag) {
    case DerTag.Utf8String:
      return bytes.toString('utf8');
    case DerTag.PrintableString:
    case DerTag.Ia5String:
    case DerTag.TeletexString:
      return bytes.toString('latin1');
    case DerTag.BmpString:
      return bytes.length % 2 === 0 ? Buffer.from(bytes).swap16().toString('utf16le') : undefined;
    case DerTag.UniversalString: {
      if (bytes.length % 4 !== 0) return undefined;
      let text = '';
      for (let i = 0; i < bytes.length; i += 4) {
        const codePoint = bytes.readUInt32BE(i);
        if (codePoint > 0x10ffff) return undefined;
        text += String.fromCodePoint(codePoint);
      }
      return text;
    }
    default:
      return undefined;
  }
}

/**
 * RFC 4514 §2.4 escaping. Like OpenSSL's RFC 2253 printing (what Envoy
 * reports), control characters and non-ASCII bytes become `\XX` hex pairs,
 * so the result is plain ASCII and safe to log.
 */
function escapeAttributeValue(value: string): string {
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (const [index, byte] of bytes.entries()) {
    const char = String.fromCharCode(byte);
    const leading = index === 0 && (char === ' ' || char === '#');
    const trailing = index === bytes.length - 1 && char === ' ';
    if (byte < 0x20 || byte >= 0x7f) out += `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (leading || trailing || '"+,;<>\\'.includes(char)) out += `\\${char}`;
    else out += char;
  }
  return out;
}
