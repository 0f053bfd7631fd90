/**
 * The baseline for the token-exchange benchmark: an HTTPS server with the
 * same TLS set-up (server certificate, client certificates requested and
 * verified) that reads the form body and answers a fixed token response,
 * doing no OAuth work. What it sustains is the ceiling the transport and the
 * load client allow on one core.
 *
 *   PORT=8443 node dist/bench/null-https-server.js <cert> <key> <ca>
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certFile, keyFile, caFile] = process.argv.slice(2);
if (!certFile || !keyFile || !caFile) throw new Error('usage: null-https-server.js <cert> <key> <ca>');

// About the size of a real answer: a 600-character ES256 access token.
const answer = JSON.stringify({
  access_token: 'x'.repeat(600),
  issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  token_type: 'Bearer',
  expires_in: 300,
  scope: 'todos:read',
});

const server = createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), ca: readFileSync(caFile), requestCert: true, rejectUnauthorized: true },
  (request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(answer);
    });
  },
);
server.listen(Number(process.env['PORT'] ?? 8443), '127.0.0.1', () => process.stdout.write('serving\n'));
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
