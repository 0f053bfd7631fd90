#!/usr/bin/env node
/**
 * The `gatehouse` command: serve, check, validate, test, revoke, token-exchange,
 * kubernetes-webhook.
 * Each command's code is loaded only when it runs, so `serve` starts without
 * evaluating the others (a replica scaling from zero pays for what it loads).
 */
import { parseArgs } from 'node:util';

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve                  run the ext_authz gRPC server
  check <request-file>   decide one request offline and explain why ('-' reads stdin);
                         the file is a CheckRequest (JSON or YAML) or its short form
  validate [paths...]    lint a policy set (files or folders); exits 1 on the first error
  test <case files or folders...>
                         run policy test cases against the policy set and report per case;
                         exits 0 all passed, 1 a case failed, 2 invalid cases [--json];
                         --from-log <decisions.jsonl> [--out cases.yaml] turns recorded
                         decisions into cases (see docs/policy-tests.md)
  revoke                 revoke a token on every replica: --jti <id> [--expires-at <s>],
                         or all of a subject's tokens: --subject <iss/sub> [--before <s>];
                         through the configured Redis, or --admin <host:port> of a replica
  token-exchange serve   run the RFC 8693 token-exchange service (-c <file> required;
                         see docs/token-exchange.md)
  kubernetes-webhook serve
                         run kube-apiserver's SubjectAccessReview and TokenReview
                         webhook (-c <file> required; see docs/kubernetes-webhook.md)
  api-key create|revoke|list
                         API keys for services: create prints a key once, revoke stops it
                         on every replica, list shows them (never secrets); in the
                         configured Redis or --file <keys.yaml> (see docs/api-keys.md)

Options:
  -c, --config <file>    Gatehouse configuration (default: the built-in todo demo)
  -h, --help             show this help
`;

async function main(argv: string[]): Promise<number> {
  // api-key has options of its own (--principal, --scope, ...): it reads its arguments itself.
  if (argv[0] === 'api-key') return (await import('./api-key.js')).runApiKey(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      jti: { type: 'string' },
      subject: { type: 'string' },
      'expires-at': { type: 'string' },
      before: { type: 'string' },
      admin: { type: 'string' },
      'from-log': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case 'serve':
      return (await import('./serve.js')).runServe(values.config);
    case 'check':
      return (await import('./check.js')).runCheck(values.config, rest[0], values.json ?? false);
    case 'validate':
      return (await import('./validate.js')).runValidate(values.config, rest);
    case 'test':
      return (await import('./test.js')).runTest(values.config, rest, {
        json: values.json ?? false,
        fromLog: values['from-log'],
        out: values.out,
      });
    case 'revoke':
      return (await import('./revoke.js')).runRevoke({
        config: values.config,
        jti: values.jti,
        subject: values.subject,
        expiresAt: values['expires-at'],
        before: values.before,
        admin: values.admin,
      });
    case 'token-exchange':
      return (await import('../../services/token-exchange/cli.js')).runTokenExchange(rest, values.config);
    case 'kubernetes-webhook':
      return (await import('../../services/kubernetes-webhook/cli.js')).runKubernetesWebhook(rest, values.config);
    default:
      process.stderr.write(`unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
