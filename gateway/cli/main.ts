#!/usr/bin/env node
/**
 * The `gatehouse` command: serve, check, validate.
 */
import { parseArgs } from 'node:util';
import { runCheck } from './check.js';
import { runServe } from './serve.js';
import { runRevoke } from './revoke.js';
import { runValidate } from './validate.js';
import { runTokenExchange } from '../../services/token-exchange/cli.js';

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve                  run the ext_authz gRPC server
  check <request-file>   decide one request offline and explain why ('-' reads stdin);
                         the file is a CheckRequest (JSON or YAML) or its short form
  validate [paths...]    lint a policy set (files or folders); exits 1 on the first error
  revoke                 revoke a token on every replica: --jti <id> [--expires-at <s>],
                         or all of a subject's tokens: --subject <iss/sub> [--before <s>];
                         through the configured Redis, or --admin <host:port> of a replica
  token-exchange serve   run the RFC 8693 token-exchange service (-c <file> required;
                         see docs/token-exchange.md)

Options:
  -c, --config <file>    Gatehouse configuration (default: the built-in todo demo)
  -h, --help             show this help
`;

async function main(argv: string[]): Promise<number> {
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
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case 'serve':
      return runServe(values.config);
    case 'check':
      return runCheck(values.config, rest[0], values.json ?? false);
    case 'validate':
      return runValidate(values.config, rest);
    case 'revoke':
      return runRevoke({
        config: values.config,
        jti: values.jti,
        subject: values.subject,
        expiresAt: values['expires-at'],
        before: values.before,
        admin: values.admin,
      });
    case 'token-exchange':
      return runTokenExchange(rest, values.config);
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
