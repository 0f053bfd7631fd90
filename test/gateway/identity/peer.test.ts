import { X509Certificate } from 'node:crypto';
import test from 'ava';
import { resolvePeer, validatePeerConfig, type PeerConfig, type PeerEvidence } from '../../../gateway/identity/index.js';
import { createMeshPki, issueCert, meshIds, type MeshPki } from '../../helpers/certs.js';

let pki: MeshPki;
test.before(async () => {
  pki = await createMeshPki();
});

const ingress = 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
const config: PeerConfig = {
  xfcc: { trustedPeers: [ingress], trustedCidrs: ['10.20.0.0/16', 'fd00:1::/64'] },
};
const restricted: PeerConfig = { ...config, trustDomains: ['cluster.local'] };
const envoyEncoded = (pem: string): string => encodeURIComponent(pem);
const xfccFor = (uri: string, by = ingress): string => `By=${by};Hash=ab;Subject="";URI=${uri}`;

function principalOf(evidence: PeerEvidence, with_: PeerConfig = config): string | undefined {
  const result = resolvePeer(evidence, with_);
  if (!result.ok) throw new Error(result.reason);
  return result.peer?.principal;
}

function reasonOf(evidence: PeerEvidence, with_: PeerConfig = config): string {
  const result = resolvePeer(evidence, with_);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.peer)}`);
  return result.reason;
}

// Where the identity comes from

test('no evidence: no peer, no error', (t) => {
  t.deepEqual(resolvePeer({}, config), { ok: true });
  t.deepEqual(resolvePeer({ sourcePrincipal: '', sourceCertificate: '' }, config), { ok: true });
});

test('a SPIFFE source principal becomes a SPIFFE peer without the scheme', (t) => {
  const result = resolvePeer({ sourcePrincipal: meshIds.reminder }, config);
  if (!result.ok || !result.peer) return t.fail();
  t.is(result.peer.principal, 'cluster.local/ns/default/sa/reminder');
  t.is(result.peer.source, 'principal');
  t.is(result.peer.spiffe?.serviceAccount, 'reminder');
  t.is(result.peer.certificate, undefined);
});

test('a non-SPIFFE source principal is kept opaque', (t) => {
  t.deepEqual(resolvePeer({ sourcePrincipal: 'api.example.com' }, config), {
    ok: true,
    peer: { principal: 'api.example.com', source: 'principal' },
  });
});

test('a malformed SPIFFE source principal is rejected, whatever the scheme case', (t) => {
  t.is(
    reasonOf({ sourcePrincipal: 'spiffe://cluster.local/ns/../sa/x' }),
    "source principal is not a valid SPIFFE ID: path segment is '..'",
  );
  t.is(
    reasonOf({ sourcePrincipal: 'SPIFFE://cluster.local/ns/a/sa/b' }),
    "source principal is not a valid SPIFFE ID: scheme must be lower-case 'spiffe'",
  );
});

test('rejections carry INVALID_PEER_IDENTITY', (t) => {
  const result = resolvePeer({ sourcePrincipal: 'spiffe://' }, config);
  t.like(result, { ok: false, code: 'INVALID_PEER_IDENTITY' });
});

test('an oversized principal is rejected', (t) => {
  t.is(reasonOf({ sourcePrincipal: 'x'.repeat(2049) }), 'source principal is longer than 2048 bytes');
});

test('source certificate: its SVID is the peer, with the certificate attached', (t) => {
  const result = resolvePeer({ sourceCertificate: envoyEncoded(pki.todos.certPem), sourcePrincipal: meshIds.todos }, config);
  if (!result.ok || !result.peer) return t.fail();
  t.is(result.peer.source, 'certificate');
  t.is(result.peer.principal, 'cluster.local/ns/default/sa/todos');
  t.deepEqual(result.peer.certificate?.uriSans, [meshIds.todos]);
});

test('source certificate and principal that disagree are inconsistent', (t) => {
  t.is(
    reasonOf({ sourceCertificate: envoyEncoded(pki.todos.certPem), sourcePrincipal: meshIds.reminder }),
    `source principal "${meshIds.reminder}" does not match the certificate's SPIFFE ID ${meshIds.todos}`,
  );
  // Istio's scheme-less form is not what Envoy sends; it does not match either.
  t.regex(
    reasonOf({ sourceCertificate: envoyEncoded(pki.todos.certPem), sourcePrincipal: 'cluster.local/ns/default/sa/todos' }),
    /does not match/,
  );
});

test('a SPIFFE principal with a certificate that has no URI SAN is inconsistent', (t) => {
  t.is(
    reasonOf({ sourceCertificate: envoyEncoded(pki.noSan.certPem), sourcePrincipal: meshIds.reminder }),
    `source principal "${meshIds.reminder}" is a SPIFFE ID but the certificate has no URI SAN`,
  );
});

test("a certificate without SVID: Envoy's principal, else first DNS SAN, else subject", async (t) => {
  t.is(principalOf({ sourceCertificate: envoyEncoded(pki.noSan.certPem), sourcePrincipal: 'CN=no-san' }), 'CN=no-san');
  t.is(principalOf({ sourceCertificate: envoyEncoded(pki.noSan.certPem) }), 'CN=no-san');
  const dns = await issueCert(pki.ca, { dns: ['client.example.com', 'alt.example.com'], commonName: 'client' });
  t.is(principalOf({ sourceCertificate: envoyEncoded(dns.certPem) }), 'client.example.com');
});

test('an unusable source certificate is rejected', (t) => {
  t.is(reasonOf({ sourceCertificate: 'not-a-certificate' }), 'source certificate: certificate is not PEM (no BEGIN line)');
  t.is(
    reasonOf({ sourceCertificate: envoyEncoded(pki.twoUris.certPem) }),
    'source certificate: certificate has 2 URI SANs; an X.509-SVID must have exactly one',
  );
});

test('precedence: source certificate, then source principal, then connection certificate', (t) => {
  const connectionCertificate = new X509Certificate(pki.share.certPem);
  const all = resolvePeer({ connectionCertificate, sourceCertificate: envoyEncoded(pki.todos.certPem) }, config);
  t.like(all, { ok: true, peer: { source: 'certificate', principal: 'cluster.local/ns/default/sa/todos' } });
  const principal = resolvePeer({ connectionCertificate, sourcePrincipal: meshIds.reminder }, config);
  t.like(principal, { ok: true, peer: { source: 'principal', principal: 'cluster.local/ns/default/sa/reminder' } });
  const connection = resolvePeer({ connectionCertificate }, config);
  t.like(connection, { ok: true, peer: { source: 'connection', principal: 'cluster.local/ns/default/sa/share' } });
});

test('a connection certificate that is not a valid SVID is rejected', (t) => {
  t.is(
    reasonOf({ connectionCertificate: new X509Certificate(pki.twoUris.certPem) }),
    'connection certificate: certificate has 2 URI SANs; an X.509-SVID must have exactly one',
  );
});

// XFCC

test('XFCC from a trusted peer principal: the rightmost element is the peer', (t) => {
  const header = `${xfccFor(meshIds.share, 'spiffe://cluster.local/ns/edge/sa/lb')},${xfccFor(meshIds.reminder)}`;
  const result = resolvePeer({ sourcePrincipal: ingress, xfcc: header }, config);
  t.deepEqual(result.ok && result.peer && { principal: result.peer.principal, source: result.peer.source }, {
    principal: 'cluster.local/ns/default/sa/reminder',
    source: 'xfcc',
  });
});

test('XFCC from a trusted CIDR, IPv4, IPv4-mapped and IPv6', (t) => {
  for (const sourceIp of ['10.20.3.4', '::ffff:10.20.3.4', 'fd00:1::7']) {
    t.is(principalOf({ sourceIp, xfcc: xfccFor(meshIds.todos) }), 'cluster.local/ns/default/sa/todos', sourceIp);
  }
});

test('a bare address in trustedCidrs trusts just that host', (t) => {
  const single: PeerConfig = { xfcc: { trustedPeers: [], trustedCidrs: ['10.1.1.1', '::1'] } };
  t.is(principalOf({ sourceIp: '10.1.1.1', xfcc: xfccFor(meshIds.todos) }, single), 'cluster.local/ns/default/sa/todos');
  t.is(principalOf({ sourceIp: '::1', xfcc: xfccFor(meshIds.todos) }, single), 'cluster.local/ns/default/sa/todos');
  t.is(principalOf({ sourceIp: '10.1.1.2', xfcc: xfccFor(meshIds.todos) }, single), undefined);
});

test('XFCC from an untrusted hop is ignored, even when malformed', (t) => {
  t.is(
    principalOf({ sourcePrincipal: meshIds.share, sourceIp: '10.99.0.1', xfcc: xfccFor(meshIds.reminder) }),
    'cluster.local/ns/default/sa/share',
  );
  t.deepEqual(resolvePeer({ sourceIp: '192.0.2.1', xfcc: 'Subject="unterminated' }, config), { ok: true });
  t.deepEqual(resolvePeer({ sourceIp: 'not-an-ip', xfcc: xfccFor(meshIds.reminder) }, config), { ok: true });
});

test('trust is by the full SPIFFE ID, not the scheme-less principal', (t) => {
  const schemeless: PeerConfig = { xfcc: { trustedPeers: [ingress.slice('spiffe://'.length)], trustedCidrs: [] } };
  t.is(principalOf({ sourcePrincipal: ingress, xfcc: xfccFor(meshIds.reminder) }, schemeless), ingress.slice('spiffe://'.length));
});

test('an opaque principal can be a trusted peer', (t) => {
  const opaque: PeerConfig = { xfcc: { trustedPeers: ['edge.example.com'], trustedCidrs: [] } };
  t.is(
    principalOf({ sourcePrincipal: 'edge.example.com', xfcc: xfccFor(meshIds.reminder) }, opaque),
    'cluster.local/ns/default/sa/reminder',
  );
});

test('malformed XFCC from a trusted hop is rejected', (t) => {
  t.is(
    reasonOf({ sourcePrincipal: ingress, xfcc: 'Subject="unterminated' }),
    'x-forwarded-client-cert from a trusted hop: element 1: unterminated quoted value of Subject',
  );
});

test('XFCC from a trusted hop must name exactly one valid SPIFFE URI', (t) => {
  const trusted = { sourcePrincipal: ingress };
  t.is(
    reasonOf({ ...trusted, xfcc: 'By=x;Hash=ab' }),
    'x-forwarded-client-cert from a trusted hop: the rightmost element has no URI to identify the client by',
  );
  t.is(
    reasonOf({ ...trusted, xfcc: `URI=${meshIds.todos};URI=${meshIds.share}` }),
    'x-forwarded-client-cert from a trusted hop: the rightmost element has 2 URIs; expected exactly one',
  );
  t.is(
    reasonOf({ ...trusted, xfcc: 'URI=http://testclient.lyft.com' }),
    "x-forwarded-client-cert from a trusted hop: URI is not a valid SPIFFE ID: SPIFFE ID must start with 'spiffe://'",
  );
  t.is(
    reasonOf({ ...trusted, xfcc: 'URI=' }),
    'x-forwarded-client-cert from a trusted hop: URI is not a valid SPIFFE ID: SPIFFE ID is empty',
  );
  // Only the rightmost element counts: a bad URI further left is not an identity and not an error.
  t.is(principalOf({ ...trusted, xfcc: `URI=junk,${xfccFor(meshIds.todos)}` }), 'cluster.local/ns/default/sa/todos');
});

test('a bad direct identity is rejected before XFCC is considered', (t) => {
  t.is(
    reasonOf({ sourcePrincipal: 'spiffe://Bad/x', sourceIp: '10.20.0.1', xfcc: xfccFor(meshIds.todos) }),
    'source principal is not a valid SPIFFE ID: trust domain contains an upper-case letter',
  );
});

// Trust domains

test('trust domains: SPIFFE IDs from other trust domains are rejected', (t) => {
  t.is(principalOf({ sourcePrincipal: meshIds.reminder }, restricted), 'cluster.local/ns/default/sa/reminder');
  t.is(
    reasonOf({ sourcePrincipal: 'spiffe://evil.example/ns/default/sa/reminder' }, restricted),
    'trust domain evil.example of spiffe://evil.example/ns/default/sa/reminder is not accepted',
  );
  t.is(
    reasonOf({ sourcePrincipal: ingress, xfcc: xfccFor('spiffe://evil.example/ns/a/sa/b') }, restricted),
    'x-forwarded-client-cert from a trusted hop: trust domain evil.example of spiffe://evil.example/ns/a/sa/b is not accepted',
  );
  // Opaque principals have no trust domain to check.
  t.is(principalOf({ sourcePrincipal: 'api.example.com' }, restricted), 'api.example.com');
});

// Configuration

test('an invalid configuration is reported, and resolvePeer refuses to decide with it', (t) => {
  const broken: PeerConfig = {
    xfcc: { trustedPeers: ['spiffe://Bad/x', ''], trustedCidrs: ['10.0.0.0/33', '10.0.0.1/8/8', 'fd00::/64', '10.0.0.1', 'example.com'] },
    trustDomains: ['cluster.local', 'Upper.example', 'a/b'],
  };
  t.deepEqual(validatePeerConfig(broken), [
    'xfcc.trustedPeers[0]: trust domain contains an upper-case letter',
    'xfcc.trustedPeers[1] is empty',
    'xfcc.trustedCidrs[0]: "10.0.0.0/33" is not an IP address or CIDR block',
    'xfcc.trustedCidrs[1]: "10.0.0.1/8/8" is not an IP address or CIDR block',
    'xfcc.trustedCidrs[4]: "example.com" is not an IP address or CIDR block',
    'trustDomains[1]: "Upper.example" is not a trust domain name',
    'trustDomains[2]: "a/b" is not a trust domain name',
  ]);
  t.like(resolvePeer({ sourcePrincipal: meshIds.reminder }, broken), { ok: false, code: 'INTERNAL_ERROR' });
  t.deepEqual(validatePeerConfig(restricted), []);
});
