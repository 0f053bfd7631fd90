/**
 * Test PKI built by code: a CA and leaf certificates with whatever SANs a
 * test needs, ECDSA P-256 for speed. The PEMs work with Node `tls` and
 * grpc-js directly (PKCS#8 key, leaf certificate).
 */
import 'reflect-metadata'; // @peculiar/x509's DI container (tsyringe) needs it loaded first
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const keyAlgorithm: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const signingAlgorithm: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const day = 24 * 60 * 60 * 1000;

/** A certificate and its key, as files would hold them. */
export interface IssuedCert {
  readonly certPem: string;
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly keyPem: string;
  readonly der: Buffer;
}

/** A CA that can issue certificates. */
export interface TestCa extends IssuedCert {
  readonly name: string;
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

export interface IssueOptions {
  readonly uris?: readonly string[];
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly emails?: readonly string[];
  /** Subject CN; the subject is empty when omitted, as SPIFFE allows. */
  readonly commonName?: string;
  /** Extended key usage serverAuth. Defaults to true when neither is given. */
  readonly serverAuth?: boolean;
  /** Extended key usage clientAuth. Defaults to true when neither is given. */
  readonly clientAuth?: boolean;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

/** A self-signed CA named `CN=<name>`, valid from an hour ago for 30 days. */
export async function createCa(name: string): Promise<TestCa> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60 * 60 * 1000),
    notAfter: new Date(Date.now() + 30 * day),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name, cert, keys, ...(await toFiles(cert, keys.privateKey)) };
}

/**
 * Issues a leaf certificate from `ca`.
 *
 * @example
 * const client = await issueCert(ca, { uris: ['spiffe://cluster.local/ns/default/sa/reminder'], clientAuth: true });
 */
export async function issueCert(ca: TestCa, options: IssueOptions = {}): Promise<IssuedCert> {
  const keys = await generateKeys();
  const names: x509.JsonGeneralName[] = [
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  const neither = options.serverAuth === undefined && options.clientAuth === undefined;
  const usages: string[] = [];
  if (options.serverAuth ?? neither) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (options.clientAuth ?? neither) usages.push(x509.ExtendedKeyUsage.clientAuth);

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
  ];
  if (usages.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(usages));
  // RFC 5280 §4.2.1.6: with an empty subject, the SAN extension must be critical.
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, !options.commonName));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    // An explicit UTF8String: plain strings become PrintableString, which drops characters like ','.
    subject: new x509.Name(options.commonName ? [{ CN: [{ utf8String: options.commonName }] }] : []),
    issuer: ca.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - 60 * 60 * 1000),
    notAfter: options.notAfter ?? new Date(Date.now() + 7 * day),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm,
    extensions,
  });
  return toFiles(cert, keys.privateKey);
}

/** The SPIFFE IDs of {@link createMeshPki}'s workloads. */
export const meshIds = {
  gatehouse: 'spiffe://cluster.local/ns/gatehouse/sa/gatehouse',
  reminder: 'spiffe://cluster.local/ns/default/sa/reminder',
  todos: 'spiffe://cluster.local/ns/default/sa/todos',
  share: 'spiffe://cluster.local/ns/default/sa/share',
} as const;

export interface MeshPki {
  readonly ca: TestCa;
  /** Gatehouse's server certificate: DNS `localhost`, IP `127.0.0.1`, and its SPIFFE ID. */
  readonly server: IssuedCert;
  readonly reminder: IssuedCert;
  readonly todos: IssuedCert;
  readonly share: IssuedCert;
  /** A client certificate with two URI SANs: not a valid X.509-SVID. */
  readonly twoUris: IssuedCert;
  /** A client certificate with no SAN at all, only `CN=no-san`. */
  readonly noSan: IssuedCert;
}

/** A small Istio-like mesh: one CA, Gatehouse's server certificate and client SVIDs. */
export async function createMeshPki(): Promise<MeshPki> {
  const ca = await createCa('Gatehouse Test Mesh CA');
  const client = (uri: string): Promise<IssuedCert> => issueCert(ca, { uris: [uri], clientAuth: true });
  const [server, reminder, todos, share, twoUris, noSan] = await Promise.all([
    issueCert(ca, {
      uris: [meshIds.gatehouse],
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      serverAuth: true,
      clientAuth: true,
    }),
    client(meshIds.reminder),
    client(meshIds.todos),
    client(meshIds.share),
    issueCert(ca, { uris: [meshIds.reminder, meshIds.todos], clientAuth: true }),
    issueCert(ca, { commonName: 'no-san', clientAuth: true }),
  ]);
  return { ca, server, reminder, todos, share, twoUris, noSan };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

async function toFiles(cert: x509.X509Certificate, privateKey: CryptoKey): Promise<IssuedCert> {
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', privateKey);
  return {
    certPem: `${cert.toString('pem')}\n`,
    keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`,
    der: Buffer.from(cert.rawData),
  };
}

/** A positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}
